"""The ledger's hash inputs against independent oracles: the JSON module for canonical texts,
RFC 6962's recursive definition for the Merkle tree, and inclusion proofs for every leaf."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lethe.state import digest

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
maybe_text = st.none() | texts
maybe_int = st.none() | st.integers(min_value=-(2**40), max_value=2**40)
fields = st.tuples(texts, maybe_text, maybe_text, maybe_text, maybe_int, texts, maybe_text)
details = st.dictionaries(texts, st.integers() | texts | st.none(), max_size=4)


@given(fields, st.integers(min_value=1, max_value=2**40), texts, details)
def test_canonical_texts_are_what_the_json_module_writes(
    values: tuple[Any, ...], seq: int, ts: str, extra: dict[str, Any]
) -> None:
    stored = json.dumps(extra, sort_keys=True, separators=(",", ":"))
    for version in digest.VERSIONS:
        oracle = json.dumps([version, seq, ts, *values], separators=(",", ":")) + "\n" + stored
        assert digest.canonical(version, seq, ts, values, stored) == oracle
    assert digest.LeafTexts(ts).text(seq, values, stored) == digest.canonical(
        2, seq, ts, values, stored
    )


def _rfc6962(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) as RFC 6962 section 2.1 defines it, recursively."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    left, right = _rfc6962(leaves[:split]), _rfc6962(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@given(leaf_lists)
def test_the_merkle_root_is_rfc_6962s_tree_hash(leaves: list[bytes]) -> None:
    assert digest.merkle_root(leaves) == _rfc6962(leaves)


@given(leaf_lists, st.data())
def test_every_leaf_has_an_inclusion_proof_and_no_other_leaf_fits_it(
    leaves: list[bytes], data: st.DataObject
) -> None:
    root = digest.merkle_root(leaves)
    index = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
    path = digest.audit_path(leaves, index)
    assert len(path) <= max(1, len(leaves) - 1).bit_length()
    assert digest.root_from_path(leaves[index], index, len(leaves), path) == root
    forged = hashlib.sha256(leaves[index]).digest()
    assert digest.root_from_path(forged, index, len(leaves), path) != root
    if len(leaves) > 1 and leaves[index] != leaves[index ^ 1 if index ^ 1 < len(leaves) else 0]:
        other = index ^ 1 if index ^ 1 < len(leaves) else 0
        assert digest.root_from_path(leaves[other], index, len(leaves), path) != root


def test_a_leaf_an_inner_node_and_an_entry_never_hash_alike() -> None:
    """Domain separation: the same bytes give three different hashes by what they are."""
    text = "[2,1]"
    leaf = digest.leaf_hash(text)
    node = digest.merkle_root([leaf, leaf])
    entry = bytes.fromhex(digest.entry_hash(text))
    assert len({leaf, node, entry, hashlib.sha256(text.encode()).digest()}) == 4


# Details as executors and senders build them, and what they could hold: nested counts, key
# lists, floats, text with the separator the batch encoding cuts at (or pieces of it).
_SEPARATOR = "\x00lethe:next\x00"
_tricky = st.sampled_from([_SEPARATOR, _SEPARATOR[:7], _SEPARATOR[6:], ",", '"', "\\"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.datetimes()  # not JSON: written as str(value), as the ledger's encoder does
    | st.uuids()
    | texts
    | _tricky
    | st.text(alphabet=st.sampled_from([*_SEPARATOR, ",", '"']), max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(texts | _tricky, inner, max_size=4)
        | st.dictionaries(st.integers(), inner, max_size=3)
    ),
    max_leaves=12,
)
_details = st.dictionaries(texts | _tricky, _values, max_size=5) | _values


@given(st.lists(_details, max_size=12))
def test_a_batchs_details_are_each_what_json_dumps_writes_alone(values: list[Any]) -> None:
    expected = [json.dumps(v, sort_keys=True, separators=(",", ":"), default=str) for v in values]
    assert digest.details_texts(values) == expected


def test_details_holding_the_separator_are_encoded_one_by_one() -> None:
    values = [{"a": 1}, {"note": _SEPARATOR}, [_SEPARATOR, _SEPARATOR], _SEPARATOR, {"b": [2]}]
    expected = [json.dumps(v, sort_keys=True, separators=(",", ":")) for v in values]
    assert digest.details_texts(values) == expected
