"""Compiling :mod:`lethe.model.conditions` to SQLAlchemy expressions on a reflected table.

Instants are bound in the form each column stores them: aware UTC for ``timestamptz``,
naive UTC for ``timestamp`` (the Django/SQLite convention), a date for ``DATE``. On SQLite,
where timestamps are text in whatever format the application wrote (``2024-10-26 02:00:00``,
``2024-10-26T02:00:00+00:00``), both sides go through ``julianday()`` so the comparison is by
instant, not by string, and a value that is not a readable date is never selected
(:mod:`lethe.stores.sql.sqlite_dates`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, DateTime, Table, and_, false, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement as _ColumnElement

from lethe.errors import LiveCheckError
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
from lethe.stores.sql import sqlite_dates

__all__ = ["column", "compile_condition", "to_column_value", "unreadable_condition"]


def column(table: Table, name: str) -> _ColumnElement[Any]:
    """``table.c[name]``, or a :class:`LiveCheckError` saying the column does not exist."""
    try:
        return table.c[name]
    except KeyError:
        raise LiveCheckError(
            f"table {table.name!r} has no column {name!r} "
            f"(it has: {', '.join(c.name for c in table.columns)})"
        ) from None


def to_column_value(table: Table, name: str, instant: datetime) -> Any:
    """``instant`` in the form the column stores (aware, naive UTC, or a date)."""
    col_type = table.c[name].type
    if isinstance(col_type, DateTime):
        if col_type.timezone:
            return instant.astimezone(UTC)
        return instant.astimezone(UTC).replace(tzinfo=None)
    if isinstance(col_type, Date):
        return instant.astimezone(UTC).date()
    return instant.astimezone(UTC).replace(tzinfo=None)


def _compare(
    table: Table, name: str, instant: datetime, op: str, sqlite: bool, ranged: bool
) -> Any:
    col = column(table, name)
    left: Any
    right: Any
    if sqlite:
        return sqlite_dates.compare(col, instant, op, ranged=ranged)
    if isinstance(col.type, Date) and not isinstance(col.type, DateTime):
        # A date is its midnight: "date < instant" holds for the instant's own date unless the
        # instant is exactly midnight.
        day = instant.astimezone(UTC).date()
        at_midnight = instant.astimezone(UTC) == datetime(day.year, day.month, day.day, tzinfo=UTC)
        if op == "<" and not at_midnight:
            op = "<="
        if op == ">=" and not at_midnight:
            op, day = ">=", day + timedelta(days=1)
        left, right = col, day
    else:
        left, right = col, to_column_value(table, name, instant)
    return {"<=": left <= right, "<": left < right, ">=": left >= right, ">": left > right}[op]


def compile_condition(condition: Condition, table: Table, *, sqlite: bool) -> ColumnElement[bool]:
    """The SQL expression selecting the rows ``condition`` selects."""
    return _compile(condition, table, sqlite, ranged=True)


def unreadable_condition(condition: Condition, table: Table) -> ColumnElement[bool] | None:
    """On SQLite: the rows ``condition`` cannot judge because a date it reads is unreadable
    (see :mod:`lethe.stores.sql.sqlite_dates`); None when it reads no date."""
    names = sorted(_instant_columns(condition))
    if not names:
        return None
    bad = or_(*(sqlite_dates.unreadable(column(table, n)) for n in names))
    return and_(bad, _compile(condition, table, True, ranged=None).is_(None))


def _instant_columns(condition: Condition) -> set[str]:
    match condition:
        case Before(name) | After(name):
            return {name}
        case All(parts) | Any_(parts):
            return set().union(*(_instant_columns(p) for p in parts))
        case Not(part):
            return _instant_columns(part)
    return set()


def _compile(
    condition: Condition, table: Table, sqlite: bool, ranged: bool | None
) -> ColumnElement[bool]:
    """``ranged``: True where a verdict selects directly (index-friendly ranges may be added),
    False under a NOT (where NULL and false differ), None for no ranges at all."""
    match condition:
        case Equals(name, value):
            return column(table, name) == value
        case DistinctFrom(name, value):
            return column(table, name).is_distinct_from(value)
        case In(name, values):
            return column(table, name).in_(values) if values else false()
        case IsNull(name):
            return column(table, name).is_(None)
        case NotNull(name):
            return column(table, name).is_not(None)
        case Before(name, instant, inclusive):
            op = "<=" if inclusive else "<"
            return _compare(table, name, instant, op, sqlite, ranged is True)  # type: ignore[no-any-return]
        case After(name, instant, inclusive):
            op = ">=" if inclusive else ">"
            return _compare(table, name, instant, op, sqlite, ranged is True)  # type: ignore[no-any-return]
        case All(parts):
            if not parts:
                return true()
            return and_(*(_compile(p, table, sqlite, ranged) for p in parts))
        case Any_(parts):
            if not parts:
                return false()
            return or_(*(_compile(p, table, sqlite, ranged) for p in parts))
        case Not(part):
            inner = None if ranged is None else not ranged
            return not_(_compile(part, table, sqlite, inner))
    raise TypeError(f"unknown condition {condition!r}")
