"""The audit ledger's format: exactly which bytes each hash covers (docs/ledger.md).

Format 1 (ledgers written before batch entries) chains every event to the one before it:
``hash = SHA-256(prev_hash_hex "\\n" canonical)``. Format 2 seals each append (a batch's events,
a run's end, a hold change) with one **entry**: its events' leaf hashes are combined into a
Merkle tree as RFC 6962 (Certificate Transparency) defines it, and the entry's hash covers the
tree's root and the previous entry's hash, so entries form the chain and any one event can be
proved to be in its entry by ``log2(n)`` hashes (:func:`audit_path`, :func:`root_from_path`).

Every hash input starts with a byte naming what it is (leaf, node, entry), so no leaf can be
passed off as a node or an entry. Text is UTF-8; JSON is written without whitespace with
non-ASCII characters escaped, which is what ``json.dumps(value, separators=(",", ":"))``
produces.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

__all__ = [
    "FIELDS",
    "GENESIS",
    "VERSIONS",
    "LeafTexts",
    "audit_path",
    "canonical",
    "chained_hash",
    "details_texts",
    "entry_canonical",
    "entry_hash",
    "json_scalar",
    "leaf_hash",
    "merkle_root",
    "root_from_path",
]

#: The chain value before the first event.
GENESIS = "0" * 64
#: The formats this lethe reads; it writes the last.
VERSIONS = (1, 2)
#: An event's fields in the order its canonical text lists them, after version, seq and ts.
FIELDS = ("run_id", "batch_id", "policy", "dataset", "phase", "event", "item_key")

_LEAF, _NODE, _ENTRY = b"\x00", b"\x01", b"\x02"
# Built once: json.dumps() with non-default options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def json_scalar(value: Any) -> str:
    """``value`` as JSON text, the common scalars without a trip through the encoder."""
    if type(value) is str:
        return str(_quote(value))
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    return _ENCODER.encode(value)


#: Between two events' details in a batch's one encoding (:func:`details_texts`): a string
#: that details do not hold (and should one, that batch is encoded event by event).
_SPLIT = "\x00lethe:next\x00"
_SPLIT_TEXT = f",{_ENCODER.encode(_SPLIT)},"


def details_texts(values: Sequence[Any]) -> list[str]:
    """Each of ``values`` (events' details) as the ledger stores it: exactly
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``.

    One encoder call for the whole batch, its text cut at a separator string placed between
    the values: the encoder's setup per call is most of its cost on an event's few keys. A
    value's text inside a JSON array is the text it has alone, and no value's text can end
    or begin with part of the separator, so the cuts fall exactly between them; a value
    holding the separator itself shows as one cut too many, and then each is encoded alone.
    """
    if len(values) < 2:
        return [_ENCODER.encode(value) for value in values]
    spaced: list[Any] = [_SPLIT] * (2 * len(values) - 1)
    spaced[::2] = values
    texts = _ENCODER.encode(spaced)[1:-1].split(_SPLIT_TEXT)
    if len(texts) != len(values):
        return [_ENCODER.encode(value) for value in values]
    return texts


def canonical(version: int, seq: int, ts: str, fields: Sequence[Any], details_json: str) -> str:
    """An event's canonical text: the JSON array ``[version, seq, ts, *FIELDS]``, a newline,
    then its details exactly as stored (so verifying hashes the stored bytes, not a
    re-serialisation). ``fields`` are the values of :data:`FIELDS` in order."""
    head = ",".join([str(version), str(seq), json_scalar(ts), *map(json_scalar, fields)])
    return f"[{head}]\n{details_json}"


def chained_hash(prev: str, text: str) -> str:
    """Format 1: an event's hash, over the previous event's hash and its canonical text."""
    return hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()


def leaf_hash(text: str) -> bytes:
    """Format 2: an event's leaf in its entry's Merkle tree (RFC 6962: ``0x00 || data``)."""
    return hashlib.sha256(_LEAF + text.encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle tree hash of ``leaves`` (at least one): pairs hashed level by level,
    an odd last node carried up unchanged, which is the same tree as RFC 6962's split at the
    largest power of two below the size."""
    if not leaves:
        raise ValueError("an entry holds at least one event")
    level = list(leaves)
    while len(level) > 1:
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def audit_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes proving ``leaves[index]`` is in :func:`merkle_root` (``leaves``),
    bottom up (RFC 6962 section 2.1.1)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    path: list[bytes] = []
    level, position = list(leaves), index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level, position = paired, position // 2
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``leaf`` at ``index`` of ``size`` leaves and its ``path`` lead to: equal
    to the entry's root exactly when the leaf is in the entry at that place."""
    node, position, width, siblings = leaf, index, size, iter(path)
    while width > 1:
        if position % 2:
            node = _node(next(siblings), node)
        elif position + 1 < width:
            node = _node(node, next(siblings))
        position, width = position // 2, (width + 1) // 2
    if next(siblings, None) is not None:
        raise ValueError("the path is longer than the tree is deep")
    return node


def entry_canonical(
    seq: int, first_seq: int, count: int, ts: str, batch_id: str | None, root: str, prev: str
) -> str:
    """An entry's canonical text: the JSON array
    ``[2, seq, first_seq, count, ts, batch_id, root_hex, prev_entry_hash_hex]``."""
    values = [seq, first_seq, count, ts, batch_id, root, prev]
    return "[2," + ",".join(map(json_scalar, values)) + "]"


def entry_hash(text: str) -> str:
    """An entry's hash (hex), which the next entry and the chain head carry."""
    return hashlib.sha256(_ENTRY + text.encode()).hexdigest()


class LeafTexts:
    """Canonical texts of format-2 events appended together (one ``ts``), built without the
    JSON encoder's per-call cost: the fields a batch's events share are written once."""

    def __init__(self, ts: str) -> None:
        self._ts = json_scalar(ts)
        self._shared: dict[tuple[Any, ...], str] = {}

    def text(self, seq: int, fields: Sequence[Any], details_json: str) -> str:
        """Equal to ``canonical(2, seq, ts, fields, details_json)``."""
        shared = tuple(fields[:5])
        prefix = self._shared.get(shared)
        if prefix is None:
            prefix = self._shared[shared] = ",".join(map(json_scalar, shared))
        event, key = json_scalar(fields[5]), json_scalar(fields[6])
        return f"[2,{seq},{self._ts},{prefix},{event},{key}]\n{details_json}"
