"""A condition compiled for the Redis page script, which judges keys on the server.

The script (:mod:`lethe.stores.redis.script`) must reach exactly the verdict Python's reference
judge (:class:`lethe.stores.listed.Judge`) reaches on the same key: selected, not selected, or
unreadable. So this compiler only accepts what it can translate without any doubt, and returns
None for the rest (a condition that compares a timestamp column with a string, a string with a
replacement character in it, …): those datasets are judged in Python as before. The script
itself hands back to Python any key whose timestamp it cannot read with certainty, so it never
calls a value unreadable that Python would read, nor reads one Python would not.

A program is JSON (decoded once per page by the script's ``cjson``): ``p`` the tree, ``f`` the
number of hash fields, ``i`` the columns compared as instants (a missing one makes an unknown
answer "unreadable"), ``t`` whether to read ``OBJECT IDLETIME``. The time of the read, the hash
fields' names and the strings compared with travel as the next script arguments, byte for byte.

Tree nodes (``c`` is a column: 1… a hash field, 0 the key, -1 the idle-since instant):
``["all", n…]``, ``["any", n…]``, ``["not", n]``, ``["const", v]`` (1 true, 0 false, 2 unknown),
``["in", c, a…]`` (the value is one of the argument strings ``a``; unknown when missing),
``["ne", c, a]``, ``["null", c]``, ``["nn", c]``, ``["cmp", c, op, seconds, microseconds]``
(``op`` one of ``le lt ge gt``, against an instant in epoch seconds and microseconds).

The tree is simplified first (an empty ``all`` is true, a true part of an ``all`` and a false
part of an ``any`` change nothing, one part is the node itself). When what is left is a single
comparison of one hash field with an instant — the ``age_column`` + ``retain`` of most datasets
— the program runs :data:`~lethe.stores.redis.script.AGE_PAGE` instead, which reads that one
field with ``HMGET`` and compares it without the tree walk (``ARGV``: the field, ``op``, the
instant's seconds and microseconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from lethe.model.conditions import (
    After,
    All,
    Any_,
    Before,
    Condition,
    DistinctFrom,
    Equals,
    In,
    IsNull,
    Not,
    NotNull,
)
from lethe.stores.redis.script import AGE_DELETE, AGE_PAGE, JUDGE_DELETE, JUDGE_PAGE

__all__ = ["COUNT_ONLY", "IDLE_SINCE", "KEY", "Program", "compile_program"]

IDLE_SINCE = "@idle_since"
KEY = "@key"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TRUE, _FALSE, _UNKNOWN = 1, 0, 2


class _Unsupported(Exception):
    """The condition has a part the script cannot judge exactly as Python does."""


@dataclass(frozen=True)
class Program:
    """What the page script needs: the tree and the columns it compares as instants, as JSON;
    the fields to read; the strings compared."""

    header: str
    fields: tuple[str, ...]
    strings: tuple[bytes, ...]
    #: Whether the script asks each key's ``OBJECT IDLETIME``.
    idle: bool
    #: The single comparison ``(op, seconds, microseconds)`` of ``fields[0]`` the whole
    #: condition comes down to, judged by :data:`AGE_PAGE`; None: the tree, by JUDGE_PAGE.
    age: tuple[str, int, int] | None = None

    @property
    def script(self) -> str:
        """The Lua script that judges this program's pages."""
        return JUDGE_PAGE if self.age is None else AGE_PAGE

    @property
    def delete_script(self) -> str:
        """The script that judges keys as :attr:`script` does and unlinks those selected."""
        return JUDGE_DELETE if self.age is None else AGE_DELETE

    def arguments(self, now: datetime) -> list[Any]:
        """The script's ARGV. JUDGE_PAGE: the program, ``now`` (seconds, microseconds), the
        field names, then the compared strings; AGE_PAGE: the field and the comparison."""
        if self.age is not None:
            return [self.fields[0], *self.age]
        return [self.header, *epoch(now), *self.fields, *self.strings]


def epoch(instant: datetime) -> tuple[int, int]:
    """An aware instant as whole epoch seconds and microseconds, exactly."""
    delta = instant - _EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


class _Compiler:
    def __init__(self, instants: set[str]) -> None:
        self.instants = instants
        self.fields: dict[str, int] = {}
        self.strings: dict[bytes, int] = {}

    def column(self, name: str, compared: bool) -> int:
        if (name in self.instants) != compared:
            # Python judges an instant column as a datetime everywhere in the condition: an
            # equality with it, or a comparison of a text column, is left to Python.
            raise _Unsupported(name)
        if name == KEY:
            return 0
        if name == IDLE_SINCE:
            return -1
        if name.startswith("@"):
            raise _Unsupported(name)
        return self.fields.setdefault(name, len(self.fields) + 1)

    def string(self, value: str) -> int:
        """The ARGV index (after the program and fields) of a compared string."""
        if "\ufffd" in value:
            raise _Unsupported(value)  # Python sees undecodable bytes as U+FFFD
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Unsupported(value) from exc
        return self.strings.setdefault(raw, len(self.strings))

    def node(self, condition: Condition) -> list[Any]:
        match condition:
            case All(parts):
                return ["all", *(self.node(p) for p in parts)]
            case Any_(parts):
                return ["any", *(self.node(p) for p in parts)]
            case Not(part):
                return ["not", self.node(part)]
            case Before(column, instant, inclusive) | After(column, instant, inclusive):
                if instant.tzinfo is None:
                    raise _Unsupported(column)
                op = ("le" if inclusive else "lt") if isinstance(condition, Before) else None
                op = op or ("ge" if inclusive else "gt")
                return ["cmp", self.column(column, True), op, *epoch(instant)]
            case Equals(column, value):
                return self.members(column, (value,))
            case In(column, values):
                return self.members(column, values) if values else ["const", _FALSE]
            case DistinctFrom(column, value):
                where = self.column(column, False)
                if value is None:
                    return ["nn", where]
                if not isinstance(value, str):
                    return ["const", _TRUE]  # a stored text is never equal to a number
                return ["ne", where, self.string(value)]
            case IsNull(column):
                return ["null", self.column(column, False)]
            case NotNull(column):
                return ["nn", self.column(column, False)]
        raise _Unsupported(repr(condition))

    def members(self, column: str, values: tuple[Any, ...]) -> list[Any]:
        where = self.column(column, False)
        if values == (None,):
            return ["const", _UNKNOWN]  # ``= NULL`` is never true, as in SQL
        # Stored values are text: a number, a boolean or None never equals one.
        return ["in", where, *(self.string(v) for v in values if isinstance(v, str))]


def _simplified(node: list[Any]) -> list[Any]:
    """The same verdicts with fewer nodes: ``all``/``any`` without their neutral parts
    (true in ``all``, false in ``any``: three-valued logic leaves the others unchanged), and
    a node of one part replaced by that part."""
    if node[0] not in ("all", "any"):
        if node[0] == "not":
            return ["not", _simplified(node[1])]
        return node
    neutral = ["const", _TRUE if node[0] == "all" else _FALSE]
    parts = [p for p in map(_simplified, node[1:]) if p != neutral]
    if not parts:
        return neutral
    return parts[0] if len(parts) == 1 else [node[0], *parts]


def _instant_columns(condition: Condition) -> set[str]:
    match condition:
        case All(parts) | Any_(parts):
            return set().union(*(_instant_columns(p) for p in parts)) if parts else set()
        case Not(part):
            return _instant_columns(part)
        case Before(column) | After(column):
            return {column}
    return set()


@lru_cache(maxsize=64)
def compile_program(condition: Condition) -> Program | None:
    """``condition`` for the page script, or None when only Python can judge it exactly."""
    instants = _instant_columns(condition)
    compiler = _Compiler(instants)
    try:
        tree = _simplified(compiler.node(condition))
        columns = [compiler.column(name, True) for name in sorted(instants)]
    except _Unsupported:
        return None
    fields = sorted(compiler.fields, key=compiler.fields.__getitem__)
    idle = IDLE_SINCE in instants
    header = {"p": tree, "f": len(fields), "i": columns, "t": idle}
    age = None
    # one field read, compared once (a part dropped as neutral may still have named a field)
    if tree[0] == "cmp" and tree[1] == 1 and len(fields) == 1 and not idle:
        age = (tree[2], tree[3], tree[4])
    return Program(
        header=json.dumps(header),
        fields=tuple(fields),
        strings=tuple(sorted(compiler.strings, key=compiler.strings.__getitem__)),
        idle=idle,
        age=age,
    )


#: Selects nothing: the page script then only counts the keys that exist.
COUNT_ONLY = Program(
    header=json.dumps({"p": ["const", _FALSE], "f": 0, "i": [], "t": False}),
    fields=(),
    strings=(),
    idle=False,
)
