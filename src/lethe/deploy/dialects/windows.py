"""Task Scheduler calendar triggers, in the machine's time zone.

A day rule (every day, some weekdays, some days of some months) times one of: a start time
repeated at a fixed interval (``*/10 * * * *``), or a short list of start times (at most
:data:`MAX_TRIGGERS` triggers in all). Other schedules are refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from lethe.deploy.dialects.base import Unsupported
from lethe.deploy.fields import CronFields

__all__ = ["MAX_TRIGGERS", "WindowsTrigger", "windows_triggers"]

MAX_TRIGGERS = 48
_DAY = 24 * 60


@dataclass(frozen=True)
class WindowsTrigger:
    """One ``CalendarTrigger``: the first start in minutes after midnight, an optional
    repetition (interval and duration, minutes), and the day rule."""

    start: int
    interval: int | None = None
    duration: int | None = None
    weekdays: tuple[int, ...] = ()  # ScheduleByWeek / ByMonthDayOfWeek (Sunday 0)
    days: tuple[int, ...] = ()  # ScheduleByMonth
    months: tuple[int, ...] = ()  # empty: every month


def windows_triggers(fields: CronFields) -> list[WindowsTrigger]:
    """Triggers whose union fires exactly at the schedule's slots, or :class:`Unsupported`."""
    times = sorted(h * 60 + m for h in fields.hour.values for m in fields.minute.values)
    triggers = [
        WindowsTrigger(start, interval, duration, weekdays, days, months)
        for weekdays, days, months in _day_rules(fields)
        for start, interval, duration in _timings(times)
    ]
    if len(triggers) > MAX_TRIGGERS:
        raise Unsupported(
            f"Task Scheduler would need {len(triggers)} triggers for this schedule "
            f"(at most {MAX_TRIGGERS}); use a step such as */10"
        )
    return triggers


def _day_rules(
    fields: CronFields,
) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(weekdays, days of month, months) rules whose union is the schedule's days."""
    months = () if fields.month.every else tuple(fields.month.sorted())
    weekly = (tuple(fields.dow.sorted()), (), months)
    monthly = ((), tuple(fields.dom.sorted()), months)
    dom_restricted, dow_restricted = fields.days_restricted
    if dom_restricted and dow_restricted:
        return [weekly, monthly]  # cron ORs them
    if dow_restricted or (fields.dom.every and not fields.dow.every):
        if not fields.dom.every:
            raise Unsupported("Task Scheduler cannot AND day-of-month with day-of-week")
        return [weekly]
    if dom_restricted or not fields.dom.every:
        if not fields.dow.every:
            raise Unsupported("Task Scheduler cannot AND day-of-month with day-of-week")
        return [monthly]
    return [((), (), ())] if not months else [monthly]


def _timings(times: list[int]) -> list[tuple[int, int | None, int | None]]:
    """One repeated start when the times are evenly spaced, else one start per time."""
    if len(times) > 2:
        gaps = {b - a for a, b in itertools.pairwise(times)}
        if len(gaps) == 1:
            interval = gaps.pop()
            return [(times[0], interval, times[-1] - times[0] + 1)]
    return [(t, None, None) for t in times]
