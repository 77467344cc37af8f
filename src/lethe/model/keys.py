"""Item keys: the primary-key value of a row, an object name, a Redis key.

Keys travel as their native type inside a run (so SQL compares integers as integers) and as
text everywhere they are persisted or compared across stores (holds, audit, plan files).

A row of a table with a composite key (``key = ["org_id", "id"]``) is keyed by a tuple of its
values, in the order the key names them; its text is a compact JSON array, ``[3,17]`` or
``[3,"eu-1"]``: unambiguous whatever the values hold, printable, and read back by
:func:`parse_composite`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias
from uuid import UUID

__all__ = ["ItemKey", "key_text", "parse_composite"]

ItemKey: TypeAlias = int | str | UUID | tuple[Any, ...]


def _json_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return str(value)
    return value


#: Built once: ``json.dumps`` with options builds an encoder per call, and a partition's key
#: digest or a batch's events turn every key of it into text.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def key_text(key: ItemKey) -> str:
    """The canonical text of a key, as stored in holds, plan files and audit events."""
    if isinstance(key, tuple):
        return _COMPACT.encode([_json_value(v) for v in key])
    return str(key)


def parse_composite(
    text: str, names: Sequence[str], convert: Sequence[Callable[[Any], Any]]
) -> tuple[Any, ...]:
    """A composite key from its text (a JSON array of one value per key column, in order),
    each value passed through its column's ``convert``; :class:`ValueError` saying what is
    wrong otherwise."""
    example = "[" + ",".join(f"<{n}>" for n in names) + "]"
    try:
        values = json.loads(text)
    except ValueError:
        raise ValueError(f"a key of this dataset is a JSON array {example}") from None
    if not isinstance(values, list) or len(values) != len(names):
        raise ValueError(f"a key of this dataset is a JSON array of {len(names)} values {example}")
    parsed = []
    for name, value, to_type in zip(names, values, convert, strict=True):
        if value is None or isinstance(value, bool | list | dict | float):
            raise ValueError(f"{name} must be a number or a string, not {json.dumps(value)}")
        try:
            parsed.append(to_type(value))
        except ValueError:
            raise ValueError(f"{json.dumps(value)} is not a valid {name}") from None
    return tuple(parsed)
