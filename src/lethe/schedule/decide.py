"""What a job should do now, decided from its slot ledger alone (no I/O, no clock).

Slots are always counted from the newest slot in the ledger, never from "now", so a process
that was down, a duplicate trigger and a second replica all reach the same verdict:

* the newest slot due (at most ``early`` ahead of now) inside the catch-up window runs once
  (for a job new to the ledger too: its first run is its newest slot inside the window);
* older due slots inside the window are recorded as ``coalesced`` into it, slots older than the
  window as ``missed`` (one record each, with how many slots it covers);
* while a run of the job is in flight, due slots are ``skipped`` (overlap ``skip``) or the
  newest is buffered (``buffer_one``); a paused job records its due slots as ``skipped``;
* with nothing due, a failed newest slot is retried after its backoff, while attempts remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from lethe.model.text import stamp
from lethe.schedule.cron import Schedule

__all__ = ["Action", "JobState", "Record", "Rules", "SlotStatus", "Verdict", "decide"]


class SlotStatus(StrEnum):
    """The life of a slot in the ledger."""

    CLAIMED = "claimed"  # a runner owns it; its run is starting
    RUNNING = "running"
    QUEUED = "queued"  # buffered behind a run in flight (overlap = buffer_one)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the run failed, was refused by a breaker, or lost its lease
    INTERRUPTED = "interrupted"  # stopped (SIGTERM, timeout) after its current batch
    COALESCED = "coalesced"  # due at the same time as a newer slot that ran for it
    MISSED = "missed"  # older than the catch-up window when lethe looked
    SKIPPED = "skipped"  # paused, or overlapping a run in flight

    @property
    def in_flight(self) -> bool:
        return self in (SlotStatus.CLAIMED, SlotStatus.RUNNING)

    @property
    def retryable(self) -> bool:
        return self in (SlotStatus.FAILED, SlotStatus.INTERRUPTED)


Action = Literal["run", "retry", "queue", "none"]


@dataclass(frozen=True)
class Rules:
    """A job's timing rules."""

    schedule: Schedule
    catch_up: timedelta
    early: timedelta = timedelta(0)
    overlap: Literal["skip", "buffer_one"] = "skip"
    retries: int = 0
    backoff: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class JobState:
    """What the ledger says about a job."""

    last_slot: datetime | None = None  # the newest scheduled slot recorded
    last_status: SlotStatus | None = None
    last_attempt: int = 0
    last_finished: datetime | None = None
    in_flight: bool = False  # a run of the job holds a live lease
    queued: bool = False  # a slot is buffered behind it
    paused: bool = False


@dataclass(frozen=True)
class Record:
    """Slots to record without running them: ``covers`` slots from ``first`` to ``slot``."""

    status: SlotStatus
    slot: datetime
    first: datetime
    covers: int
    note: str


@dataclass(frozen=True)
class Verdict:
    """The decision: an action on ``slot``, ledger records to write, and why."""

    action: Action
    slot: datetime | None
    records: tuple[Record, ...]
    reason: str
    next_slot: datetime | None


@dataclass
class _Span:
    first: datetime | None = None
    previous: datetime | None = None  # the slot before ``last``
    last: datetime | None = None
    count: int = 0

    def add(self, slot: datetime) -> None:
        self.first = self.first or slot
        self.previous, self.last = self.last, slot
        self.count += 1

    def record(self, status: SlotStatus, note: str, *, but_last: bool = False) -> Record | None:
        count = self.count - 1 if but_last else self.count
        newest = self.previous if but_last else self.last
        if count <= 0 or self.first is None or newest is None:
            return None
        return Record(status, newest, self.first, count, note)


def _scan(rules: Rules, state: JobState, now: datetime) -> tuple[_Span, _Span, datetime | None]:
    """Due slots split into those before the catch-up window and those inside it."""
    window = now - rules.catch_up
    horizon = now + rules.early
    start = state.last_slot or (window - timedelta(microseconds=1))
    missed, inside = _Span(), _Span()
    for slot in rules.schedule.after(start):
        if slot > horizon:
            return missed, inside, slot
        if slot < window:
            missed.add(slot)
        else:
            inside.add(slot)
    return missed, inside, None


def decide(rules: Rules, state: JobState, now: datetime) -> Verdict:
    """The verdict for a job at ``now``; pure, so every replica reaches the same one."""
    missed, inside, next_slot = _scan(rules, state, now)
    records = [r for r in [missed.record(SlotStatus.MISSED, "older than catch_up")] if r]
    if inside.last is None:
        retry = _retry(rules, state, now)
        if retry is not None:
            return Verdict("retry", state.last_slot, tuple(records), retry, next_slot)
        nothing = f"nothing due; next slot {next_slot.isoformat() if next_slot else 'never'}"
        return Verdict("none", None, tuple(records), nothing, next_slot)
    latest = inside.last
    if state.paused:
        records.append(_all(inside, SlotStatus.SKIPPED, "paused"))
        return Verdict("none", None, tuple(records), "the job is paused", next_slot)
    if state.in_flight and (rules.overlap == "skip" or state.queued):
        status = SlotStatus.SKIPPED if rules.overlap == "skip" else SlotStatus.COALESCED
        why = (
            "a run of the job is still in flight" if rules.overlap == "skip" else "a run is queued"
        )
        records.append(_all(inside, status, why))
        return Verdict("none", None, tuple(records), f"{status.value}: {why}", next_slot)
    older = inside.record(SlotStatus.COALESCED, f"run once as {stamp(latest)}", but_last=True)
    if older and state.last_slot is not None:  # a job new to the ledger owes no older slots
        records.append(older)
    if state.in_flight:
        return Verdict(
            "queue", latest, tuple(records), "queued behind the run in flight", next_slot
        )
    return Verdict("run", latest, tuple(records), "due", next_slot)


def _all(span: _Span, status: SlotStatus, note: str) -> Record:
    record = span.record(status, note)
    assert record is not None  # callers pass a span with at least one slot
    return record


def _retry(rules: Rules, state: JobState, now: datetime) -> str | None:
    """Why the newest slot is retried now, or None."""
    if (
        state.last_slot is None
        or state.last_status is None
        or not state.last_status.retryable
        or state.in_flight
        or state.paused
        or state.last_attempt > rules.retries
        or state.last_slot < now - rules.catch_up
    ):
        return None
    wait = rules.backoff * (2 ** max(state.last_attempt - 1, 0))
    if state.last_finished is not None and now < state.last_finished + wait:
        return None
    return f"retry {state.last_attempt} of {rules.retries} after {state.last_status.value}"
