"""Row conditions as data: what a phase selects, free of any database.

The planner builds a :data:`Condition` from the policy and the evaluation instant; each store
compiles it to its own query language (SQL ``WHERE``, an object-age test, …) and
:func:`evaluate` runs the very same condition in Python, for ``lethe explain`` and for the
property tests that check a store against this reference.

Semantics follow SQL's three-valued logic collapsed to "selected or not": a comparison with a
missing (NULL) value never selects the row, except in :class:`IsNull` and :class:`DistinctFrom`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, TypeAlias

__all__ = [
    "After",
    "All",
    "Any_",
    "Before",
    "Condition",
    "DistinctFrom",
    "Equals",
    "In",
    "IsNull",
    "Not",
    "NotNull",
    "Scalar",
    "Unreadable",
    "columns_of",
    "describe",
    "evaluate",
    "explain_failures",
    "truth",
]

Scalar: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class Equals:
    """``column = value``."""

    column: str
    value: Scalar


@dataclass(frozen=True)
class DistinctFrom:
    """``column IS DISTINCT FROM value``: NULL-safe inequality."""

    column: str
    value: Scalar


@dataclass(frozen=True)
class In:
    """``column IN (values)``."""

    column: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class IsNull:
    """``column IS NULL``."""

    column: str


@dataclass(frozen=True)
class NotNull:
    """``column IS NOT NULL``."""

    column: str


@dataclass(frozen=True)
class Before:
    """``column <= instant`` (or ``<`` when not ``inclusive``); instants are UTC-aware."""

    column: str
    instant: datetime
    inclusive: bool = True


@dataclass(frozen=True)
class After:
    """``column > instant`` (or ``>=`` when ``inclusive``)."""

    column: str
    instant: datetime
    inclusive: bool = False


@dataclass(frozen=True)
class All:
    """Every part holds (an empty ``All`` selects everything)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    """At least one part holds (an empty ``Any_`` selects nothing)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold (NULL comparisons inside stay unselected, as in SQL)."""

    part: Condition


@dataclass(frozen=True)
class Unreadable:
    """A stored value that is there but is not a date lethe can read (a number in a SQLite
    date column, ``"soon"``, a malformed object timestamp): a comparison with it is UNKNOWN, so
    the item is never due; stores return it so that ``lethe explain`` can say why."""

    #: The value as written, quoted as its store shows it (``12345``, ``'soon'``).
    unreadable: str

    def __str__(self) -> str:
        return f"{self.unreadable} (unreadable: not a date, never due)"


Condition: TypeAlias = (
    Equals | DistinctFrom | In | IsNull | NotNull | Before | After | All | Any_ | Not
)


def columns_of(condition: Condition) -> set[str]:
    """Every column a condition reads."""
    match condition:
        case All(parts) | Any_(parts):
            return set().union(*(columns_of(p) for p in parts)) if parts else set()
        case Not(part):
            return columns_of(part)
        case _:
            return {condition.column}


def _as_instant(value: Any) -> datetime | None:
    """Normalise a stored timestamp: naive values are UTC, dates are midnight UTC."""
    if value is None or isinstance(value, Unreadable):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _as_instant(datetime.fromisoformat(value))
    raise TypeError(f"not a timestamp: {value!r}")


Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool | None]


@lru_cache(maxsize=256)
def predicate(condition: Condition) -> Predicate:
    """``condition`` compiled once into a function of a row, with SQL's three-valued answer.

    Stores that judge rows in Python (object listings, Redis keys) call it per item, so the
    condition tree is walked once per run rather than once per item.
    """
    match condition:
        case Equals(column, value):
            if value is None:
                return lambda row: None
            return lambda row: None if row[column] is None else bool(row[column] == value)
        case DistinctFrom(column, value):
            return lambda row: bool(row[column] != value)
        case In(column, values):
            if not values:
                return lambda row: False  # nothing is in the empty set, not even NULL
            members = frozenset(values) if all(_hashable(v) for v in values) else values
            return lambda row: None if row[column] is None else bool(row[column] in members)
        case IsNull(column):
            return lambda row: row[column] is None
        case NotNull(column):
            return lambda row: row[column] is not None
        case Before(column, instant, inclusive) | After(column, instant, inclusive):
            return _comparison(condition, column, instant, inclusive)
        case All(parts):
            return _fold(tuple(predicate(p) for p in parts), decisive=False)
        case Any_(parts):
            return _fold(tuple(predicate(p) for p in parts), decisive=True)
        case Not(part):
            inner = predicate(part)

            def negated(row: Mapping[str, Any]) -> bool | None:
                answer = inner(row)
                return None if answer is None else not answer

            return negated
    raise TypeError(f"unknown condition {condition!r}")


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _comparison(condition: Condition, column: str, instant: datetime, inclusive: bool) -> Predicate:
    before = isinstance(condition, Before)

    def compare(row: Mapping[str, Any]) -> bool | None:
        value = row[column]
        # Aware datetimes (the common case) skip normalisation.
        stored = value if isinstance(value, datetime) and value.tzinfo else _as_instant(value)
        if stored is None:
            return None
        if before:
            return stored <= instant if inclusive else stored < instant
        return stored >= instant if inclusive else stored > instant

    return compare


def _fold(parts: tuple[Predicate, ...], decisive: bool) -> Predicate:
    """SQL's AND (``decisive=False``: one False decides) or OR (one True decides); otherwise
    UNKNOWN if any part was, else the other truth value."""

    def fold(row: Mapping[str, Any]) -> bool | None:
        unknown = False
        for part in parts:
            answer = part(row)
            if answer is decisive:
                return decisive
            unknown = unknown or answer is None
        return None if unknown else not decisive

    return fold


def truth(condition: Condition, row: Mapping[str, Any]) -> bool | None:
    """SQL's three-valued answer: True, False, or None when a missing value leaves it UNKNOWN.

    Stores that evaluate conditions themselves use it to tell "not selected" from "cannot
    tell" (an item whose age field is missing or unreadable is skipped and counted).
    """
    return predicate(condition)(row)


def evaluate(condition: Condition, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` (column name → value) is selected by ``condition``, as SQL would say."""
    return predicate(condition)(row) is True


def _flatten(condition: Condition) -> list[Condition]:
    if isinstance(condition, All):
        return [leaf for part in condition.parts for leaf in _flatten(part)]
    return [condition]


def explain_failures(condition: Condition, row: Mapping[str, Any]) -> list[Condition]:
    """The conjuncts of ``condition`` that do not select ``row`` (for ``lethe explain``)."""
    return [part for part in _flatten(condition) if not evaluate(part, row)]


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(condition: Condition) -> str:
    """A condition in SQL-like words: ``deletion_date <= 2024-10-26 02:00:00 UTC``."""
    match condition:
        case Equals(column, value):
            return f"{column} = {value!r}"
        case DistinctFrom(column, value):
            return f"{column} is not {value!r}"
        case In(column, values):
            return f"{column} in ({', '.join(repr(v) for v in values)})"
        case IsNull(column):
            return f"{column} is empty"
        case NotNull(column):
            return f"{column} is set"
        case Before(column, instant, inclusive):
            return f"{column} {'<=' if inclusive else '<'} {_stamp(instant)}"
        case After(column, instant, inclusive):
            return f"{column} {'>=' if inclusive else '>'} {_stamp(instant)}"
        case All(parts):
            return " and ".join(f"({describe(p)})" for p in parts) or "always"
        case Any_(parts):
            return " or ".join(f"({describe(p)})" for p in parts) or "never"
        case Not(part):
            return f"not ({describe(part)})"
    raise TypeError(f"unknown condition {condition!r}")
