"""Which warning an item is owed at an instant: pure functions, tested with hypothesis.

Milestone ``L`` (``"7d"``) of an item is *reached* at ``as_of`` when the item is due by
``as_of + L``. Of the milestones reached, only the most urgent (shortest lead) is ever sent: a
run that finds an item 3 days from its due date sends the 7-day notice and never a stale
30-day one, and an item found already due (no time for warnings) gets the shortest first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lethe.config.durations import Duration
from lethe.model.conditions import Condition, evaluate

__all__ = ["DueAt", "Milestone", "current", "due_instant", "schedule"]

DueAt = Callable[[datetime], Condition]

# Orders leads that mix months and days the same way whatever the run's instant.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Milestone:
    """One notice before the due date."""

    lead: Duration

    @property
    def name(self) -> str:
        """Stored in the delivery ledger and audit events: ``"30d"``."""
        return str(self.lead)

    @property
    def label(self) -> str:
        """For people: ``"30-day"``, ``"1-month"``, ``"12h"``."""
        days, rest = divmod(self.lead.seconds, 86400)
        if not self.lead.months and not rest:
            return f"{days}-day"
        if self.lead.months and not self.lead.seconds:
            return f"{self.lead.months}-month"
        return self.name

    @property
    def span(self) -> timedelta:
        """The lead as a fixed span (months counted from a fixed reference)."""
        return self.lead.after(_REFERENCE) - _REFERENCE


def schedule(leads: Iterable[Duration]) -> tuple[Milestone, ...]:
    """The milestones, most urgent (shortest lead) first."""
    return tuple(sorted((Milestone(lead) for lead in set(leads)), key=lambda m: m.span))


def current(
    due_at: DueAt, row: Mapping[str, Any], as_of: datetime, milestones: tuple[Milestone, ...]
) -> Milestone | None:
    """The most urgent milestone ``row`` has reached at ``as_of`` (None: none yet)."""
    for milestone in milestones:  # most urgent first
        if evaluate(due_at(milestone.lead.after(as_of)), row):
            return milestone
    return None


def due_instant(
    due_at: DueAt, row: Mapping[str, Any], start: datetime, end: datetime
) -> datetime | None:
    """The first instant in ``[start, end]`` at which ``row`` is due, to the second.

    ``start`` when it is due already; None when it is not due even at ``end``. Due-ness only
    ever begins as time passes, so a bisection finds the instant for any due rule.
    """
    if evaluate(due_at(start), row):
        return start
    if not evaluate(due_at(end), row):
        return None
    low, high = start, end
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if evaluate(due_at(middle), row):
            high = middle
        else:
            low = middle
    return high
