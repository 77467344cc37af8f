"""The ``lethe scheduler`` daemon: fires every job at its slots.

Each pass reads each job's newest slot from the ledger, computes the next one from it (never
from "now"), and fires the jobs whose time has come (plus their jitter) on a small thread pool,
one run per job at a time in this process. Several daemons may share one state database: the
ledger's claim makes each slot run once whichever daemon wakes first. Between passes the daemon
sleeps until the next slot, at most ``scheduler.poll``; :meth:`Scheduler.shutdown` (SIGTERM)
stops it, lets the batches in flight finish and records their runs as interrupted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from lethe.config.jobs import JobConfig, fixed
from lethe.jobs.claims import ClaimStatus
from lethe.jobs.runner import JobService
from lethe.schedule.decide import SlotStatus

__all__ = ["Scheduler", "jitter_for"]

log = logging.getLogger("lethe.jobs")


def jitter_for(job: JobConfig, slot: datetime) -> timedelta:
    """A delay in [0, jitter) that every replica computes alike for the same slot."""
    spread = fixed(job.jitter).total_seconds()
    if not spread:
        return timedelta(0)
    digest = hashlib.sha256(f"{job.name}@{slot.isoformat()}".encode()).digest()
    return timedelta(seconds=spread * int.from_bytes(digest[:4], "big") / 2**32)


class Scheduler:
    """Fires the jobs of ``service``'s policy file; ``workers=0`` runs them inline (tests)."""

    def __init__(self, service: JobService, workers: int | None = None) -> None:
        self.service = service
        self.clock = service.clock
        self.config = service.config
        self.workers = self.config.scheduler.workers if workers is None else workers
        self.stop = threading.Event()
        self._busy: dict[str, Future[None]] = {}
        self._idle_until: dict[str, datetime] = {}
        self._pool: ThreadPoolExecutor | None = None

    def due_at(self, job: JobConfig, now: datetime) -> datetime | None:
        """When ``job`` next wants firing: its next slot after the ledger's newest, a retry."""
        ledger = self.service.ledger
        with ledger.state.read() as conn:
            last = ledger.last_scheduled(conn, job.name)
        start = last.slot if last else now - fixed(job.catch_up) - timedelta(microseconds=1)
        slot = job.cron.next_after(start)
        at = slot + jitter_for(job, slot) if slot else None
        if last and last.status.retryable and last.attempt <= job.retries and last.finished_at:
            retry = last.finished_at + fixed(job.backoff) * 2 ** max(last.attempt - 1, 0)
            at = min(at, retry) if at else retry
        return at

    def step(self) -> float:
        """One pass: fire what is due; return how long to sleep before the next pass."""
        now = self.clock.now()
        wake = now + fixed(self.config.scheduler.poll)
        for job in self.config.jobs:
            if self._running(job.name) or self._idle_until.get(job.name, now) > now:
                continue
            at = self.due_at(job, now)
            if at is not None and at <= now:
                self._submit(job.name)
            elif at is not None:
                wake = min(wake, at)
        return max((wake - now).total_seconds(), 0.0)

    def run(self) -> None:
        """Loop until :meth:`shutdown`."""
        names = ", ".join(job.name for job in self.config.jobs) or "none"
        log.info("scheduler started (%s), jobs: %s", self.service.owner, names)
        if self.workers:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lethe-job")
        try:
            while not self.stop.is_set():
                if self.clock.sleep(self.step(), self.stop):
                    break
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            log.info("scheduler stopped")

    def shutdown(self, reason: str = "shutting down") -> None:
        """Stop firing; runs in flight stop after their current batch (recorded interrupted)."""
        self.stop.set()
        self.service.stop_all(reason)

    def _running(self, name: str) -> bool:
        future = self._busy.get(name)
        return future is not None and not future.done()

    def _submit(self, name: str) -> None:
        if self._pool is None:
            self._fire(name)
            return
        self._busy[name] = self._pool.submit(self._fire, name)

    def _fire(self, name: str) -> None:
        try:
            claim, runs = self.service.fire(name, trigger="scheduler")
        except Exception:  # one job's failure must not stop the others
            log.exception("job %s: firing failed", name)
            self._idle_until[name] = self.clock.now() + fixed(self.config.scheduler.poll)
            return
        if claim.status is not ClaimStatus.STARTED and claim.status is not ClaimStatus.QUEUED:
            # Nothing ran (another replica has it, or it is in flight): look again after a poll.
            self._idle_until[name] = self.clock.now() + fixed(self.config.scheduler.poll)
        for run in runs:
            if run.status is not SlotStatus.SUCCEEDED:
                log.warning("job %s slot %s: %s (%s)", name, run.slot, run.status, run.note)
