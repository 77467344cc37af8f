"""When a schedule's slots fall, as far as a deployment target cares, without I/O.

Two questions, over the coming year:

* **DST exposure**: does a slot fall where platforms disagree — a fixed time inside a
  spring-forward gap (Debian cron and lethe run it at the end of the gap; Kubernetes, systemd
  and EventBridge Scheduler skip the day) or inside a repeated hour?
* **Ticks**: which coarser schedules, in the zone a platform is stuck with, fire at (a
  superset of) every slot? ``--approximate=tick`` emits the coarsest one the platform can
  express, calling ``lethe tick``, so that the slot ledger keeps the exact schedule.

Only the days around each time-zone transition are iterated with the scheduler itself; the rest
follows from the fields and the zone's UTC offsets, so a dense schedule costs no more than a
sparse one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from lethe.deploy.fields import CronFields
from lethe.schedule.cron import Schedule

__all__ = [
    "HORIZON",
    "Exposure",
    "exposure",
    "horizon_start",
    "max_delay",
    "tick_candidates",
    "utc_offsets",
]

HORIZON = timedelta(days=366)
_DAY = 24 * 60


@dataclass(frozen=True)
class Exposure:
    """Slots (UTC) where platforms disagree about DST, within the horizon."""

    moved: tuple[datetime, ...] = ()  # a fixed time that does not exist that day
    repeated: tuple[datetime, ...] = ()  # a wall-clock time that happens twice that day

    def first(self) -> datetime | None:
        """The earliest exposed slot, if any."""
        return min((*self.moved, *self.repeated), default=None)


def utc_offsets(zone: tzinfo, start: datetime) -> frozenset[int]:
    """The zone's UTC offsets in minutes over the horizon (sampled daily: offsets that last
    less than a day do not exist in practice)."""
    return frozenset(_offset(zone, start + timedelta(days=d)) for d in range(367))


def _offset(zone: tzinfo, instant: datetime) -> int:
    offset = instant.astimezone(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _transition_days(zone: tzinfo, start: datetime) -> list[datetime]:
    days = [start + timedelta(days=d) for d in range(368)]
    return [b for a, b in itertools.pairwise(days) if _offset(zone, a) != _offset(zone, b)]


@lru_cache(maxsize=512)
def exposure(schedule: Schedule, start: datetime) -> Exposure:
    """The slots within :data:`HORIZON` of ``start`` that a DST change moves or repeats."""
    zone, fields = schedule.tz, CronFields.of(schedule)
    moved: list[datetime] = []
    repeated: list[datetime] = []
    for day in _transition_days(zone, start):
        window_end = day + timedelta(days=2)
        for slot in schedule.after(day - timedelta(days=2)):
            if slot > window_end:
                break
            wall = slot.astimezone(zone)
            if wall.hour not in fields.hour.values or wall.minute not in fields.minute.values:
                moved.append(slot)
            elif _ambiguous(wall.replace(tzinfo=None), zone):
                repeated.append(slot)
    return Exposure(tuple(moved), tuple(repeated))


def _ambiguous(naive: datetime, zone: tzinfo) -> bool:
    return (
        naive.replace(tzinfo=zone, fold=0).utcoffset()
        != naive.replace(tzinfo=zone, fold=1).utcoffset()
    )


def _walls(schedule: Schedule, tick_zone: tzinfo, start: datetime) -> frozenset[int]:
    """A superset of the minutes-of-day (in ``tick_zone``) at which slots fall."""
    fields = CronFields.of(schedule)
    local = {h * 60 + m for h in fields.hour.values for m in fields.minute.values}
    shifts = {
        tick - own
        for own in utc_offsets(schedule.tz, start)
        for tick in utc_offsets(tick_zone, start)
    }
    walls = {(minute + shift) % _DAY for minute in local for shift in shifts}
    for slot in exposure(schedule, start).moved:
        wall = slot.astimezone(tick_zone)
        walls.add(wall.hour * 60 + wall.minute)
    return frozenset(walls)


def tick_candidates(schedule: Schedule, tick_zone: str, start: datetime) -> list[str]:
    """Cron expressions in ``tick_zone``, coarsest first, each firing at every slot."""
    zone = Schedule.parse("* * * * *", tick_zone).tz
    walls = _walls(schedule, zone, start)
    minutes = {w % 60 for w in walls}
    found: list[str] = []
    if len(walls) == 1 and len(utc_offsets(zone, start)) == 1:
        (wall,) = walls
        found.append(f"{wall % 60} {wall // 60} * * *")
    if len(minutes) == 1:
        found.append(f"{min(minutes)} * * * *")
    for step in (30, 20, 15, 12, 10, 6, 5, 4, 3, 2):
        residues = {m % step for m in minutes}
        if len(residues) == 1:
            (first,) = residues
            found.append(f"{first}-59/{step} * * * *" if first else f"*/{step} * * * *")
    found.append("* * * * *")
    return found


def max_delay(schedule: Schedule, tick: Schedule, start: datetime) -> int:
    """The longest wait, in minutes, from a slot to the next firing of a tick that fires by
    minute of the hour only (``*/10 * * * *``)."""
    minutes = CronFields.of(tick).minute.sorted()
    walls = _walls(schedule, tick.tz, start)
    return max(min((m - wall) % 60 for m in minutes) for wall in walls)


def horizon_start(now: datetime) -> datetime:
    """The start of the analysis: midnight UTC of ``now``'s day (stable within a day)."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
