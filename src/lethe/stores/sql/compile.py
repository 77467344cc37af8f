"""Compiling :mod:`lethe.model.conditions` to SQLAlchemy expressions on a reflected table.

Instants are bound in the form each column stores them: aware UTC for ``timestamptz``,
naive UTC for ``timestamp`` (the Django/SQLite convention), a date for ``DATE``. On SQLite,
where timestamps are text in whatever format the application wrote (``2024-10-26 02:00:00``,
``2024-10-26T02:00:00+00:00``), both sides go through ``julianday()`` so the comparison is by
instant, not by string.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, DateTime, Table, and_, false, func, not_, or_, true
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

__all__ = ["column", "compile_condition", "to_column_value"]


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


def _compare(table: Table, name: str, instant: datetime, op: str, sqlite: bool) -> Any:
    col = column(table, name)
    left: Any
    right: Any
    if sqlite:
        text = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        left, right = func.julianday(col), func.julianday(text)
    elif isinstance(col.type, Date) and not isinstance(col.type, DateTime):
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
            return _compare(table, name, instant, "<=" if inclusive else "<", sqlite)  # type: ignore[no-any-return]
        case After(name, instant, inclusive):
            return _compare(table, name, instant, ">=" if inclusive else ">", sqlite)  # type: ignore[no-any-return]
        case All(parts):
            if not parts:
                return true()
            return and_(*(compile_condition(p, table, sqlite=sqlite) for p in parts))
        case Any_(parts):
            if not parts:
                return false()
            return or_(*(compile_condition(p, table, sqlite=sqlite) for p in parts))
        case Not(part):
            return not_(compile_condition(part, table, sqlite=sqlite))
    raise TypeError(f"unknown condition {condition!r}")
