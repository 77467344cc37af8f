"""Claiming a job's slot: the ledger verdict, taken under the job's lock and written down.

:meth:`Claimer.claim` reaps in-flight slots whose runner is gone, reads the ledger, asks
:func:`lethe.schedule.decide` what to do, records the slots that will not run, and claims the one
that will. The answer says what happened in words a platform's trigger can act on: ``started``
and ``queued`` (a run is coming), ``duplicate``, ``skipped`` and ``not_due`` (nothing to do;
all of them are successes for the caller, so at-least-once triggers can retry safely).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection

from lethe.config.jobs import JobConfig
from lethe.model.text import stamp
from lethe.schedule.decide import JobState, SlotStatus, Verdict, decide
from lethe.state.batches import new_id
from lethe.state.slots import MANUAL, SCHEDULED, SlotLedger, SlotRow

__all__ = ["Claim", "ClaimStatus", "Claimer"]

log = logging.getLogger("lethe.jobs")


class ClaimStatus(StrEnum):
    """What a trigger achieved."""

    STARTED = "started"  # this caller owns the slot and runs it now
    QUEUED = "queued"  # buffered behind the run in flight (overlap = buffer_one)
    DUPLICATE = "duplicate"  # the due slot is already claimed, running or done
    SKIPPED = "skipped"  # paused, or a run is in flight (overlap = skip)
    NOT_DUE = "not_due"  # no slot is due


@dataclass(frozen=True)
class Claim:
    """The answer to one trigger."""

    job: str
    status: ClaimStatus
    reason: str
    slot: datetime | None = None
    run_id: str | None = None
    slot_status: str | None = None
    next_slot: datetime | None = None
    row: SlotRow | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        """Whether a run is coming for this trigger."""
        return self.status in (ClaimStatus.STARTED, ClaimStatus.QUEUED)

    def to_document(self) -> dict[str, Any]:
        """JSON-ready, as the CLI and the HTTP service print it."""
        return {
            "job": self.job,
            "status": self.status.value,
            "reason": self.reason,
            "slot": self.slot.isoformat() if self.slot else None,
            "runId": self.run_id,
            "slotStatus": self.slot_status,
            "nextSlot": self.next_slot.isoformat() if self.next_slot else None,
        }


class Claimer:
    """Takes verdicts for jobs against one slot ledger."""

    def __init__(self, ledger: SlotLedger, lease: timedelta, owner: str) -> None:
        self.ledger = ledger
        self.lease = lease
        self.owner = owner

    def claim(
        self, job: JobConfig, now: datetime, *, trigger: str, early: timedelta, manual: bool
    ) -> Claim:
        """Decide and record, under the job's lock, what this trigger does."""
        with self.ledger.locked(job.name, now) as conn:
            for row in self.ledger.active(conn, job.name):
                if row.status.in_flight:
                    note = self.ledger.reap(conn, row, now, self.lease)
                    if note:
                        log.warning("job %s slot %s: %s", job.name, row.slot.isoformat(), note)
            if manual:
                return self._manual(conn, job, now, trigger)
            return self._scheduled(conn, job, now, trigger, early)

    def _values(self, job: str, now: datetime, trigger: str, **values: Any) -> dict[str, Any]:
        slot = values.pop("slot", None)
        claim = {
            "status": SlotStatus.CLAIMED.value,
            "run_id": new_id("run-"),
            "attempt": 1,
            "trigger": trigger,
            "owner": self.owner,
            "lease_expires_at": now + self.lease,
            "started_at": None,
            "finished_at": None,
            **values,
        }
        if slot is not None:  # a new row, not a reclaim
            claim.update(job=job, slot_utc=slot, covers=1, covers_from=slot, fence=1)
            claim.update(recorded_at=now, kind=claim.get("kind", SCHEDULED))
        return claim

    def _manual(self, conn: Connection, job: JobConfig, now: datetime, trigger: str) -> Claim:
        slot = now.replace(second=0, microsecond=0)
        if any(r.status.in_flight for r in self.ledger.active(conn, job.name)):
            return Claim(job.name, ClaimStatus.SKIPPED, "a run of the job is in flight", slot)
        values = self._values(job.name, now, trigger, slot=slot, kind=MANUAL, note="manual")
        row = self.ledger.claim(conn, values)
        if row is None:
            return _duplicate(job.name, self.ledger.find(conn, job.name, slot), None)
        return _started(job.name, row, "manual trigger", None)

    def _scheduled(
        self, conn: Connection, job: JobConfig, now: datetime, trigger: str, early: timedelta
    ) -> Claim:
        active = self.ledger.active(conn, job.name)
        in_flight = any(r.status.in_flight for r in active)
        queued = [r for r in active if r.status is SlotStatus.QUEUED]
        promoted = None
        if queued and not in_flight:  # the buffered slot's turn
            promoted = self.ledger.reclaim(conn, queued[0], self._values(job.name, now, trigger))
            in_flight, queued = promoted is not None, queued[1:]
        state = self._state(conn, job, in_flight=in_flight, queued=bool(queued))
        last = self.ledger.last_scheduled(conn, job.name)
        verdict = decide(job.rules(early), state, now)
        for record in verdict.records:
            self.ledger.record(conn, job.name, record, now)
        if verdict.action == "queue" and verdict.slot is not None:
            values = self._values(job.name, now, trigger, slot=verdict.slot, run_id=None)
            self.ledger.claim(conn, {**values, "status": SlotStatus.QUEUED.value})
        if promoted is not None:
            return _started(job.name, promoted, "the queued slot's turn", verdict.next_slot)
        return self._act(conn, job.name, verdict, last, now, trigger)

    def _state(self, conn: Connection, job: JobConfig, **flags: bool) -> JobState:
        last = self.ledger.last_scheduled(conn, job.name)
        return JobState(
            last_slot=last.slot if last else None,
            last_status=last.status if last else None,
            last_attempt=last.attempt if last else 0,
            last_finished=last.finished_at if last else None,
            in_flight=flags.get("in_flight", False),
            queued=flags.get("queued", False),
            paused=flags.get("paused", job.paused or self.ledger.paused(conn, job.name)),
        )

    def set_paused(self, job: JobConfig, now: datetime, paused: bool, by: str) -> None:
        """Pause or resume; slots that came due while paused are recorded skipped, not run."""
        with self.ledger.locked(job.name, now) as conn:
            if not paused:
                verdict = decide(job.rules(), self._state(conn, job, paused=True), now)
                for record in verdict.records:
                    self.ledger.record(conn, job.name, record, now)
            self.ledger.set_paused(conn, job.name, paused, now, by)

    def _act(
        self,
        conn: Connection,
        job: str,
        verdict: Verdict,
        last: SlotRow | None,
        now: datetime,
        trigger: str,
    ) -> Claim:
        if verdict.action == "run" and verdict.slot is not None:
            row = self.ledger.claim(conn, self._values(job, now, trigger, slot=verdict.slot))
            if row is None:
                return _duplicate(job, self.ledger.find(conn, job, verdict.slot), verdict.next_slot)
            return _started(job, row, verdict.reason, verdict.next_slot)
        if verdict.action == "retry" and last is not None:
            values = self._values(job, now, trigger, attempt=last.attempt + 1, note=verdict.reason)
            row = self.ledger.reclaim(conn, last, values)
            if row is not None:
                return _started(job, row, verdict.reason, verdict.next_slot)
        if verdict.action == "queue":
            return Claim(job, ClaimStatus.QUEUED, verdict.reason, verdict.slot, None, "queued")
        # Nothing runs for the due slot: recorded skipped, or coalesced into the queued run.
        passed = [r for r in verdict.records if r.status is not SlotStatus.MISSED]
        if passed:
            newest = passed[-1]
            return Claim(
                job, ClaimStatus.SKIPPED, verdict.reason, newest.slot, None, newest.status.value
            )
        missed = [r for r in verdict.records if r.status is SlotStatus.MISSED]
        if missed:
            why = f"{missed[0].covers} slot(s) missed: older than catch_up"
            return Claim(
                job, ClaimStatus.NOT_DUE, why, missed[0].slot, None, "missed", verdict.next_slot
            )
        if last is not None and last.status is not SlotStatus.MISSED:
            return _duplicate(job, last, verdict.next_slot)
        return Claim(job, ClaimStatus.NOT_DUE, verdict.reason, next_slot=verdict.next_slot)


def _started(job: str, row: SlotRow, reason: str, next_slot: datetime | None) -> Claim:
    return Claim(
        job, ClaimStatus.STARTED, reason, row.slot, row.run_id, row.status.value, next_slot, row
    )


def _duplicate(job: str, row: SlotRow | None, next_slot: datetime | None) -> Claim:
    if row is None:
        return Claim(job, ClaimStatus.NOT_DUE, "nothing due", next_slot=next_slot)
    status = ClaimStatus.SKIPPED if row.status is SlotStatus.SKIPPED else ClaimStatus.DUPLICATE
    why = f"slot {stamp(row.slot)} is already {row.status.value}"
    return Claim(job, status, why, row.slot, row.run_id, row.status.value, next_slot)
