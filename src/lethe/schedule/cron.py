"""Cron schedules with Debian cron's semantics, computed by cronsim.

A :class:`Schedule` is a 5-field expression (or ``@hourly``, ``@daily``, ``@weekly``,
``@monthly``, ``@yearly``) read in an IANA time zone. Its slots are UTC instants:

* a **fixed-time** schedule (neither the minute nor the hour field starts with ``*``) runs once
  per matching wall-clock time: a time that falls in a spring-forward gap runs at the first
  valid instant after it, and a time repeated by a fall-back runs at its first occurrence;
* any other schedule (``*/10 * * * *``, ``0 * * * *``, ``0 */2 * * *``) runs at every real
  instant whose wall-clock time matches, so a repeated hour runs twice and a skipped one never;
* day-of-month and day-of-week are ORed when both are restricted, ANDed when either is ``*``.

cronsim can return a time before its start when started inside the second pass of a repeated
hour, so :meth:`Schedule.after` drops every candidate that is not strictly later than the
previous one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = ["ALIASES", "Schedule"]

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_NAMES = {
    3: {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
    4: {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"},
}
_ATOM = re.compile(r"^(\*|\d{1,2}|[A-Z]{3})$")
# The values each field takes (Debian cron reads day-of-week 7 as Sunday, like 0).
_RANGES = {0: (0, 59), 1: (0, 23), 2: (1, 31), 3: (1, 12), 4: (0, 7)}
# A '*/n' step that does not divide its field's cycle gives uneven gaps where the cycle
# restarts (*/40 minutes: :00 and :40; */5 months: Jan, Jun, Nov, then Jan after two months).
# Day-of-month is left out: months have different lengths, so it gets its own warning.
_CYCLES = {0: 60, 1: 24, 3: 12, 4: 7}
# cronsim gives up after 50 years; a schedule with no slot in that span is impossible.
_PROBE = datetime(2001, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A cron expression in a time zone; build it with :meth:`parse`."""

    expression: str
    zone: str = "UTC"
    cron: str = field(default="", compare=False)

    @classmethod
    def parse(cls, expression: str, zone: str = "UTC") -> Schedule:
        """Validate ``expression`` and ``zone``; raise ``ValueError`` saying what is wrong."""
        text = " ".join(expression.split())
        cron = ALIASES.get(text.lower(), text)
        if cron.startswith("@"):
            raise ValueError(f"unknown schedule {text!r}; use one of {', '.join(ALIASES)}")
        parts = [_normalise(part) for part in cron.upper().split(" ")]
        if len(parts) != 5:
            raise ValueError(
                f"schedule {text!r} has {len(parts)} fields; write 5: minute hour "
                "day-of-month month day-of-week (e.g. '0 2 * * *')"
            )
        for index, part in enumerate(parts):
            _check_field(index, part)
        schedule = cls(text, zone, " ".join(parts))
        try:
            first = next(schedule.after(_PROBE), None)
        except CronSimError as exc:  # values are in range by now: an impossible date (30 2)
            if str(exc) == "Bad day-of-month":
                raise ValueError(f"schedule {text!r} never runs: no such date") from None
            raise ValueError(f"schedule {text!r}: {str(exc).lower()}") from None
        if first is None:
            raise ValueError(f"schedule {text!r} never runs (no such date)")
        return schedule

    @property
    def tz(self) -> tzinfo:
        """The time zone (``ValueError`` for an unknown name)."""
        if self.zone == "UTC":
            return UTC
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.zone!r}; use an IANA name such as 'Australia/Sydney'"
            ) from None

    @property
    def fixed_time(self) -> bool:
        """Whether slots are wall-clock times adjusted across DST (Debian cron's rule)."""
        minute, hour = self.cron.split(" ")[:2]
        return not minute.startswith("*") and not hour.startswith("*")

    def after(self, instant: datetime) -> Iterator[datetime]:
        """Slots strictly after ``instant``, in UTC, strictly increasing."""
        if instant.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        previous = instant.astimezone(UTC)
        for candidate in CronSim(self.cron, previous.astimezone(self.tz)):
            slot = candidate.astimezone(UTC)
            if slot > previous:  # the guard against cronsim stepping back in a repeated hour
                previous = slot
                yield slot

    def next_after(self, instant: datetime) -> datetime | None:
        """The first slot strictly after ``instant`` (None: never again)."""
        return next(self.after(instant), None)

    def warnings(self) -> list[str]:
        """Things about the expression that often surprise people; the schedule still loads."""
        found: list[str] = []
        parts = self.cron.split(" ")
        for index, part in enumerate(parts):
            for term in part.split(","):
                if "/" not in term:
                    continue
                base, _, step_text = term.partition("/")
                step = int(step_text)
                cycle = _CYCLES.get(index) if base == "*" else None
                if index == 2 and step > 1:
                    found.append(
                        f"'{term}' in day-of-month restarts every month (days 1, {1 + step}, …), "
                        "so the gap at a month's end is shorter; use day-of-week for weekly jobs"
                    )
                elif cycle and cycle % step:
                    start = _RANGES[index][0]
                    found.append(
                        f"'{term}' in the {_FIELDS[index]} field does not divide {cycle}: "
                        f"the gaps are uneven (the cycle restarts at {start})"
                    )
        if not parts[2].startswith("*") and not parts[4].startswith("*"):
            found.append(
                "both day-of-month and day-of-week are restricted: as in cron, the job runs on "
                "days matching EITHER"
            )
        return found


def _normalise(part: str) -> str:
    """``5-5/2`` is the single value 5 in Debian cron; cronsim would read it as ``5-59/2``."""
    terms = []
    for term in part.split(","):
        base, slash, _ = term.partition("/")
        low, dash, high = base.partition("-")
        terms.append(low if slash and dash and low == high else term)
    return ",".join(terms)


def _check_field(index: int, part: str) -> None:
    """Debian cron's syntax only: no seconds, no ``L``, ``W``, ``#`` or ``?``."""
    name = _FIELDS[index]
    for term in part.split(","):
        base, _, step = term.partition("/")
        if "/" in term and not step.isdigit():
            raise ValueError(f"{name} field {part!r}: a step is a number ('*/10')")
        if "/" in term and base != "*" and "-" not in base:
            # Debian cron refuses '5/15'; other crons disagree on what it means.
            raise ValueError(f"{name} field {part!r}: a step needs * or a range ('5-59/15')")
        for atom in base.split("-", 1) if base != "*" else ["*"]:
            if not _ATOM.match(atom) or (atom.isalpha() and atom not in _NAMES.get(index, ())):
                raise ValueError(
                    f"{name} field {part!r} is not cron syntax (numbers, names, *, ranges a-b, "
                    "lists a,b and steps /n)"
                )
            low, high = _RANGES[index]
            if atom.isdigit() and not low <= int(atom) <= high:
                raise ValueError(
                    f"{name} field {part!r}: {int(atom)} is out of range ({low}-{high})"
                )
