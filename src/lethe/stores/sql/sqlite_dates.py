"""Dates on SQLite, where a "date column" holds whatever the application wrote.

SQLite has no date type: a ``DATETIME`` column holds text (``2024-10-26 02:00:00``,
``2024-10-26T02:00:00+02:00``), but also numbers, blobs or any other text. ``julianday()`` would
read a number as a Julian day (``12345`` is 4679 BC, so due long ago) and text such as ``now``
or ``12:30`` as some instant. lethe reads a value as a date only when it is **readable**: it
starts with ``YYYY-MM-DD`` (as text: no number does) and ``julianday()`` accepts it. Anything
else that is not NULL is **unreadable**: never due, and reported (``unreadable`` in plans and
results, ``lethe explain``) like a blob or Redis item whose age cannot be read.

A comparison is three-valued: ``CASE WHEN readable THEN julianday(col) <= julianday(:t) END``
is NULL for an unreadable value, so that a negation cannot turn it into "selected", and the
rows whose verdict is NULL *because of* an unreadable value are exactly the unreadable items.
Where the comparison decides selection directly (not under a NOT), a plain range on the text
(``col < '2024-10-28'``) is added in front: implied by the comparison for every readable value
(time-zone offsets are at most 15 hours), it lets SQLite use an index on the column.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    case,
    func,
    literal,
    not_,
    type_coerce,
)

__all__ = ["compare", "readable", "unreadable", "unreadable_text", "utc_text"]

#: What a readable value starts with: a four-digit year, month and day.
_DATE_PREFIX = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*"
#: Further than any time-zone offset SQLite accepts (±14:59) moves a local date from UTC.
_OFFSET = timedelta(days=1)


def _as_text(col: ColumnElement[Any]) -> ColumnElement[str]:
    # Compared as text, without a CAST, so an index on the column still serves.
    return type_coerce(col, String)


def _dated(col: ColumnElement[Any]) -> ColumnElement[bool]:
    # A number never matches (its text has no "-" after four digits), nor does "now" or "12:30".
    return _as_text(col).op("GLOB")(literal(_DATE_PREFIX, String))


def readable(col: ColumnElement[Any]) -> ColumnElement[bool]:
    """True when the column holds a date lethe reads: ISO-8601-like text SQLite can date."""
    return and_(_dated(col), func.julianday(col).is_not(None))


def unreadable(col: ColumnElement[Any]) -> ColumnElement[bool]:
    """True when the column holds something (not NULL) that is not a readable date."""
    return and_(col.is_not(None), not_(readable(col)))


def _range(col: ColumnElement[Any], instant: datetime, op: str) -> ColumnElement[bool] | None:
    """A text range every readable value satisfying ``col op instant`` lies in, or None."""
    utc = instant.astimezone(UTC)
    try:
        if op in ("<", "<="):
            # Local date at most the day after; text starting with that date sorts below
            # the next day's date.
            return _as_text(col) < literal((utc + 2 * _OFFSET).date().isoformat(), String)
        return _as_text(col) >= literal((utc - _OFFSET).date().isoformat(), String)
    except OverflowError:  # at the calendar's ends: no useful range
        return None


def compare(
    col: ColumnElement[Any], instant: datetime, op: str, *, ranged: bool
) -> ColumnElement[bool]:
    """``col op instant`` by instant, NULL when the value is missing or unreadable; with
    ``ranged``, behind an index-friendly text range (only where NULL and false select alike)."""
    text = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    left, right = func.julianday(col), func.julianday(literal(text, String))
    verdict = {"<=": left <= right, "<": left < right, ">=": left >= right, ">": left > right}[op]
    # julianday() is NULL for a value the pattern admits but SQLite cannot date: the verdict is
    # then NULL as well, as for any unreadable value, without computing julianday() twice.
    judged = type_coerce(case((_dated(col), verdict)), Boolean)
    bound = _range(col, instant, op) if ranged else None
    return judged if bound is None else and_(bound, judged)


def utc_text(col: ColumnElement[Any]) -> ColumnElement[str]:
    """A readable value as UTC text (``2024-10-26 00:00:00.000``), else NULL (for reading)."""
    return case((readable(col), func.strftime("%Y-%m-%d %H:%M:%f", col)))


def unreadable_text(col: ColumnElement[Any]) -> ColumnElement[str]:
    """An unreadable value as SQLite quotes it (``12345``, ``'soon'``, ``X'00FF'``: a number, a
    text and a blob told apart), cut to 60 characters; else NULL (for ``lethe explain``)."""
    return case((unreadable(col), func.substr(func.quote(col), 1, 60)))
