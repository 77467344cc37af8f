"""Retention periods such as ``"24 months"``, ``"14d"``, ``"30m"`` and ``"1h30m"``.

A :class:`Duration` keeps calendar months apart from fixed seconds because "24 months" before
31 March is not a fixed number of days. Units: ``s``, ``m``/``min`` (minutes), ``h``, ``d``,
``w``, ``mo``/``month(s)`` and ``y``/``year(s)``. ``m`` always means minutes; months are spelled
``mo`` or ``months`` so that ``"30m"`` is never ambiguous.

A duration is at most :data:`LONGEST` (1,000 years): longer ones cannot be dated (Python's
datetimes end at year 9999) and are refused when the file is loaded. Arithmetic saturates at
the ends of the calendar, so an instant near them never raises.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["LONGEST_YEARS", "Duration", "parse_duration"]

#: The longest duration a policy file may give, in years.
LONGEST_YEARS = 1000

_UNITS: dict[str, tuple[int, int]] = {
    # unit -> (months, seconds)
    "s": (0, 1),
    "sec": (0, 1),
    "second": (0, 1),
    "seconds": (0, 1),
    "m": (0, 60),
    "min": (0, 60),
    "minute": (0, 60),
    "minutes": (0, 60),
    "h": (0, 3600),
    "hour": (0, 3600),
    "hours": (0, 3600),
    "d": (0, 86400),
    "day": (0, 86400),
    "days": (0, 86400),
    "w": (0, 7 * 86400),
    "week": (0, 7 * 86400),
    "weeks": (0, 7 * 86400),
    "mo": (1, 0),
    "month": (1, 0),
    "months": (1, 0),
    "y": (12, 0),
    "year": (12, 0),
    "years": (12, 0),
}

_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")

# The shortest a month can be; used when a duration must be compared with a fixed span
# (the min_retain guard), so that "1 month" is never judged longer than it can be.
_SHORTEST_MONTH = timedelta(days=28)


@dataclass(frozen=True, order=True)
class Duration:
    """A span of calendar months plus a fixed number of seconds."""

    months: int = 0
    seconds: int = 0

    def before(self, instant: datetime) -> datetime:
        """The instant this duration before ``instant`` (months clamp to the month's last day);
        the calendar's first instant when that lies before year 1."""
        try:
            return _add_months(instant, -self.months) - timedelta(seconds=self.seconds)
        except (OverflowError, ValueError):
            return _edge(instant, datetime.min)

    def after(self, instant: datetime) -> datetime:
        """The instant this duration after ``instant``; the calendar's last instant when that
        lies after year 9999."""
        try:
            return _add_months(instant, self.months) + timedelta(seconds=self.seconds)
        except (OverflowError, ValueError):
            return _edge(instant, datetime.max)

    @property
    def shortest(self) -> timedelta:
        """The shortest real span this duration can cover (months counted as 28 days)."""
        return self.months * _SHORTEST_MONTH + timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        parts: list[str] = []
        years, months = divmod(self.months, 12)
        if years:
            parts.append(f"{years}y")
        if months:
            parts.append(f"{months}mo")
        rest = self.seconds
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            count, rest = divmod(rest, size)
            if count:
                parts.append(f"{count}{unit}")
        return "".join(parts) or "0s"


def parse_duration(text: str) -> Duration:
    """Parse ``"24 months"``, ``"14d"``, ``"1h30m"``; raise ``ValueError`` saying what is wrong."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError("empty duration; write e.g. '30d', '24 months' or '30m'")
    months = seconds = 0
    position = 0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        amount, unit = int(match.group(1)), match.group(2)
        if unit not in _UNITS:
            raise ValueError(
                f"unknown unit {unit!r} in duration {text!r}; use s, m (minutes), h, d, w, "
                "mo (months) or y"
            )
        unit_months, unit_seconds = _UNITS[unit]
        months += amount * unit_months
        seconds += amount * unit_seconds
        position = match.end()
    if position != len(cleaned):
        raise ValueError(f"malformed duration {text!r}; write e.g. '30d', '24 months' or '30m'")
    if months > LONGEST_YEARS * 12 or seconds > LONGEST_YEARS * 366 * 86400:
        raise ValueError(f"duration {text!r} is longer than {LONGEST_YEARS} years")
    return Duration(months=months, seconds=seconds)


def _edge(instant: datetime, edge: datetime) -> datetime:
    """``edge`` (datetime.min or max) in the form of ``instant``: aware UTC or naive."""
    return edge.replace(tzinfo=UTC) if instant.tzinfo is not None else edge


def _add_months(instant: datetime, months: int) -> datetime:
    if months == 0:
        return instant
    total = instant.year * 12 + (instant.month - 1) + months
    year, month0 = divmod(total, 12)
    day = min(instant.day, calendar.monthrange(year, month0 + 1)[1])
    return instant.replace(year=year, month=month0 + 1, day=day)
