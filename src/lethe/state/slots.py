"""The slot ledger: one row per scheduled occurrence of a job, in the state database.

A runner claims a slot by inserting its ``(job, slot_utc)`` row, which is unique, inside a
transaction that holds the job's row lock in ``lethe_jobs`` — so one job's verdicts are taken
one at a time across every replica, and a duplicate trigger finds the row already there.

Every write a runner makes to its slot after the claim is **fenced**: it names the ``fence``
number it was given, and a reaper that takes the slot from a dead runner (its run's lease
expired) bumps the number first, so a late write from the old runner changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lethe.errors import StoreError
from lethe.model.results import RunStatus
from lethe.model.text import stamp
from lethe.schedule.decide import Record, SlotStatus
from lethe.state.db import StateDB, as_utc
from lethe.state.reconcile import reconcile_record
from lethe.state.schema import jobs, runs, slots

__all__ = ["SlotLedger", "SlotRow"]

SCHEDULED, MANUAL = "scheduled", "manual"


@dataclass(frozen=True)
class SlotRow:
    """One row of the ledger."""

    id: int
    job: str
    slot: datetime
    kind: str
    status: SlotStatus
    covers: int
    covers_from: datetime | None
    run_id: str | None
    attempt: int
    fence: int
    trigger: str | None
    lease_expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None

    def to_document(self) -> dict[str, Any]:
        """The row as JSON-ready values."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "job": self.job,
            "slot": iso(self.slot),
            "kind": self.kind,
            "status": self.status.value,
            "covers": self.covers,
            "coversFrom": iso(self.covers_from),
            "runId": self.run_id,
            "attempt": self.attempt,
            "trigger": self.trigger,
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "note": self.note,
        }


def _row(row: Any) -> SlotRow:
    slot = as_utc(row["slot_utc"])
    assert slot is not None  # NOT NULL column
    return SlotRow(
        id=row["id"],
        job=row["job"],
        slot=slot,
        kind=row["kind"],
        status=SlotStatus(row["status"]),
        covers=row["covers"],
        covers_from=as_utc(row["covers_from"]),
        run_id=row["run_id"],
        attempt=row["attempt"],
        fence=row["fence"],
        trigger=row["trigger"],
        lease_expires_at=as_utc(row["lease_expires_at"]),
        started_at=as_utc(row["started_at"]),
        finished_at=as_utc(row["finished_at"]),
        note=row["note"],
    )


_IN_FLIGHT = (SlotStatus.CLAIMED.value, SlotStatus.RUNNING.value)
_FROM_RUN = {
    RunStatus.SUCCEEDED.value: SlotStatus.SUCCEEDED,
    RunStatus.INTERRUPTED.value: SlotStatus.INTERRUPTED,
}


class SlotLedger:
    """Reads and fenced writes of ``lethe_slots`` and ``lethe_jobs``."""

    def __init__(self, state: StateDB, tables: Mapping[str, str] | None = None) -> None:
        self.state = state
        #: Each dataset's table, for the record of a run this ledger finds dead.
        self.tables = dict(tables or {})

    # -- the per-job lock -------------------------------------------------------------------

    @contextmanager
    def locked(self, job: str, now: datetime) -> Iterator[Connection]:
        """A write transaction holding ``job``'s row lock (the row is created on first use)."""
        self._ensure(job, now)
        with self.state.write() as conn:
            conn.execute(select(jobs.c.name).where(jobs.c.name == job).with_for_update())
            yield conn

    def _ensure(self, job: str, now: datetime) -> None:
        with self.state.read() as conn:
            if conn.execute(select(jobs.c.name).where(jobs.c.name == job)).first():
                return
        try:
            with self.state.write() as conn:
                conn.execute(insert(jobs).values(name=job, paused=False, first_seen=now))
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):  # else another replica won
                raise

    # -- reads inside the lock ---------------------------------------------------------------

    @staticmethod
    def last_scheduled(conn: Connection, job: str) -> SlotRow | None:
        """The newest scheduled (not manual) slot recorded for ``job``."""
        row = (
            conn.execute(
                select(slots)
                .where(slots.c.job == job, slots.c.kind == SCHEDULED)
                .order_by(slots.c.slot_utc.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _row(row) if row else None

    @staticmethod
    def active(conn: Connection, job: str) -> list[SlotRow]:
        """Slots of ``job`` claimed, running or queued, oldest first."""
        rows = conn.execute(
            select(slots)
            .where(slots.c.job == job, slots.c.status.in_([*_IN_FLIGHT, SlotStatus.QUEUED.value]))
            .order_by(slots.c.slot_utc)
        ).mappings()
        return [_row(r) for r in rows]

    @staticmethod
    def find(conn: Connection, job: str, slot: datetime) -> SlotRow | None:
        """The row of one slot, if recorded."""
        row = (
            conn.execute(select(slots).where(slots.c.job == job, slots.c.slot_utc == slot))
            .mappings()
            .first()
        )
        return _row(row) if row else None

    @staticmethod
    def paused(conn: Connection, job: str) -> bool:
        """Whether ``job`` was paused with ``lethe jobs pause``."""
        return bool(conn.execute(select(jobs.c.paused).where(jobs.c.name == job)).scalar())

    # -- writes inside the lock --------------------------------------------------------------

    @staticmethod
    def record(conn: Connection, job: str, record: Record, now: datetime) -> None:
        """Write slots that will not run (coalesced, missed, skipped); an existing row wins."""
        values = {
            "job": job,
            "slot_utc": record.slot,
            "kind": SCHEDULED,
            "status": record.status.value,
            "covers": record.covers,
            "covers_from": record.first,
            "attempt": 0,
            "fence": 0,
            "recorded_at": now,
            "note": record.note,
        }
        try:
            with conn.begin_nested():
                conn.execute(insert(slots).values(**values))
        except IntegrityError:
            pass

    @staticmethod
    def claim(conn: Connection, values: dict[str, Any]) -> SlotRow | None:
        """Insert a claimed (or queued) slot; None when the slot is already recorded."""
        try:
            with conn.begin_nested():
                key = conn.execute(insert(slots).values(**values)).inserted_primary_key
        except IntegrityError:
            return None
        assert key is not None  # an INSERT of one row always has one
        row = conn.execute(select(slots).where(slots.c.id == key[0])).mappings().one()
        return _row(row)

    @staticmethod
    def reclaim(conn: Connection, row: SlotRow, values: dict[str, Any]) -> SlotRow | None:
        """Claim an existing slot again (a retry, a queued slot's turn), bumping its fence."""
        changed = conn.execute(
            update(slots)
            .where(slots.c.id == row.id, slots.c.fence == row.fence)
            .values(fence=row.fence + 1, **values)
        )
        if changed.rowcount != 1:
            return None
        return _row(conn.execute(select(slots).where(slots.c.id == row.id)).mappings().one())

    def reap(self, conn: Connection, row: SlotRow, now: datetime, grace: timedelta) -> str | None:
        """Settle an in-flight slot whose runner is gone; returns what was found, or None.

        The slot's liveness is its run's lease: a run past its lease is marked interrupted
        and the slot failed (retryable); a claim whose run never started fails after its own
        lease; a run that finished without its slot being told settles the slot from it.
        """
        run = conn.execute(
            select(runs.c.status, runs.c.lease_expires_at, runs.c.completed_at).where(
                runs.c.id == row.run_id
            )
        ).first()
        if run is None:
            if row.lease_expires_at is None or row.lease_expires_at >= now:
                return None
            status, note = SlotStatus.FAILED, "claim expired before its run started"
        elif run[0] == RunStatus.RUNNING.value:
            lease = as_utc(run[1])
            if lease is None or lease >= now:
                return None
            conn.execute(
                update(runs)
                .where(runs.c.id == row.run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.INTERRUPTED.value, completed_at=now)
            )
            reconcile_record(conn, str(row.run_id), self.tables)
            status, note = SlotStatus.FAILED, f"lease expired at {stamp(lease)} (no heartbeat)"
        else:
            completed = as_utc(run[2]) or now
            if completed + grace >= now:
                return None  # its runner is probably recording the outcome right now
            status = _FROM_RUN.get(run[0], SlotStatus.FAILED)
            note = f"settled from its run ({run[0]}); the runner did not record it"
        conn.execute(
            update(slots)
            .where(slots.c.id == row.id, slots.c.fence == row.fence)
            .values(status=status.value, fence=row.fence + 1, finished_at=now, note=note)
        )
        return note

    @staticmethod
    def set_paused(conn: Connection, job: str, paused: bool, now: datetime, by: str) -> None:
        """Pause or resume a job."""
        conn.execute(
            update(jobs)
            .where(jobs.c.name == job)
            .values(paused=paused, changed_at=now, changed_by=by)
        )

    # -- fenced writes by the runner ---------------------------------------------------------

    def start(self, row: SlotRow, now: datetime) -> bool:
        """Mark a claimed slot running; False when it was taken away (fence moved)."""
        return self._fenced(
            row, SlotStatus.CLAIMED, status=SlotStatus.RUNNING.value, started_at=now
        )

    def renew(self, row: SlotRow, expires: datetime) -> bool:
        """Extend a running slot's lease (its runner's heartbeat); False when it was taken."""
        return self._fenced(row, SlotStatus.RUNNING, lease_expires_at=expires)

    def holds(self, row: SlotRow) -> bool:
        """Whether the runner of ``row`` still owns its slot (same fence, still running)."""
        with self.state.read() as conn:
            found = conn.execute(
                select(slots.c.id).where(
                    slots.c.id == row.id,
                    slots.c.fence == row.fence,
                    slots.c.status == SlotStatus.RUNNING.value,
                )
            ).first()
        return found is not None

    def finish(self, row: SlotRow, status: SlotStatus, now: datetime, note: str | None) -> bool:
        """Record a slot's outcome; False (refused) when the runner lost it."""
        return self._fenced(
            row, SlotStatus.RUNNING, status=status.value, finished_at=now, note=note
        )

    def _fenced(self, row: SlotRow, expected: SlotStatus, **values: Any) -> bool:
        with self.state.write() as conn:
            changed = conn.execute(
                update(slots)
                .where(
                    slots.c.id == row.id,
                    slots.c.fence == row.fence,
                    slots.c.status == expected.value,
                )
                .values(**values)
            )
            return changed.rowcount == 1

    # -- reads for status, health and metrics -------------------------------------------------

    def history(self, job: str, limit: int = 20) -> list[SlotRow]:
        """The newest rows of ``job``, newest first."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(slots)
                .where(slots.c.job == job)
                .order_by(slots.c.slot_utc.desc())
                .limit(limit)
            ).mappings()
            return [_row(r) for r in rows]

    def by_run(self, run_id: str) -> SlotRow | None:
        """The slot a run belongs to, if any."""
        with self.state.read() as conn:
            row = conn.execute(select(slots).where(slots.c.run_id == run_id)).mappings().first()
            return _row(row) if row else None

    def totals(self) -> dict[tuple[str, str], int]:
        """Slots per (job, status), counting the slots each row covers."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(slots.c.job, slots.c.status, func.sum(slots.c.covers)).group_by(
                    slots.c.job, slots.c.status
                )
            ).all()
        return {(str(job), str(status)): int(total or 0) for job, status, total in rows}

    def last_success(self) -> dict[str, datetime]:
        """When each job last finished a run successfully."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(slots.c.job, func.max(slots.c.finished_at))
                .where(slots.c.status == SlotStatus.SUCCEEDED.value)
                .group_by(slots.c.job)
            ).all()
        return {str(job): value for job, at in rows if (value := as_utc(at)) is not None}

    def job_rows(self) -> dict[str, tuple[bool, datetime]]:
        """Each known job's pause flag and first-seen instant."""
        with self.state.read() as conn:
            rows = conn.execute(select(jobs.c.name, jobs.c.paused, jobs.c.first_seen)).all()
        return {str(n): (bool(p), as_utc(f) or f) for n, p, f in rows}
