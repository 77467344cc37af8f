"""Running claimed slots: the job's policies through :meth:`lethe.Lethe.run`, with a timeout,
dead-man pings, and the outcome written back to the slot with its fencing token.

:class:`JobService` is what every interface uses — the ``lethe scheduler`` daemon, ``lethe
tick``, ``lethe jobs trigger`` and ``lethe serve`` — so a slot runs the same way whoever fires it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lethe.api import Lethe
from lethe.config.jobs import JobConfig, fixed
from lethe.config.loader import Settings
from lethe.engine.lease import Lease
from lethe.engine.stop import StopFlag
from lethe.errors import LeaseLostError, LetheError, NotFoundError, SafetyLimitError
from lethe.jobs.claims import Claim, Claimer, ClaimStatus
from lethe.jobs.pings import Pinger
from lethe.model.results import RunResult, RunStatus
from lethe.schedule.clock import Clock, SystemClock
from lethe.schedule.decide import SlotStatus
from lethe.state.batches import process_identity
from lethe.state.db import StateDB
from lethe.state.slots import SlotLedger

__all__ = ["JobRun", "JobService", "Observer"]

log = logging.getLogger("lethe.jobs")

_TAKEN = "the slot was taken over by another runner (its lease was judged expired)"

_SLOT_STATUS = {
    RunStatus.SUCCEEDED: SlotStatus.SUCCEEDED,
    RunStatus.INTERRUPTED: SlotStatus.INTERRUPTED,
}


@dataclass(frozen=True)
class JobRun:
    """What running one slot did."""

    job: str
    slot: datetime
    run_id: str
    status: SlotStatus
    seconds: float
    result: RunResult | None
    note: str | None
    recorded: bool  # False: the runner lost the slot and its outcome was refused


Observer = Callable[[JobRun], None]


class JobService:
    """Claims and runs the slots of one policy file's jobs."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        pinger: Pinger | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.config
        self.clock = clock or SystemClock()
        self.state = StateDB(settings.state_url)
        tables = {name: ds.table or name for name, ds in self.config.datasets.items()}
        self.ledger = SlotLedger(self.state, tables)
        identity = process_identity()
        self.owner = f"{identity['host']}:{identity['pid']}"
        self.claimer = Claimer(self.ledger, fixed(self.config.scheduler.lease), self.owner)
        self.observers = list(observers)
        self.pinger = pinger or Pinger()
        self.stopping = threading.Event()
        self._flags: set[StopFlag] = set()
        self._lock = threading.Lock()

    def job(self, name: str) -> JobConfig:
        """The job called ``name`` (:class:`NotFoundError` when there is none)."""
        job = self.config.job(name)
        if job is None:
            known = ", ".join(j.name for j in self.config.jobs) or "none"
            raise NotFoundError(f"no job named {name!r} (jobs: {known})")
        return job

    def claim(
        self, name: str, *, trigger: str, manual: bool = False, early: timedelta | None = None
    ) -> Claim:
        """Decide what a trigger for job ``name`` does now, and claim its slot if one is due."""
        job = self.job(name)
        tolerance = fixed(self.config.scheduler.early) if early is None else early
        claim = self.claimer.claim(
            job, self.clock.now(), trigger=trigger, early=tolerance, manual=manual
        )
        log.info("job %s: %s (%s)", name, claim.status.value, claim.reason)
        return claim

    def fire(
        self, name: str, *, trigger: str, manual: bool = False, early: timedelta | None = None
    ) -> tuple[Claim, list[JobRun]]:
        """Claim and run, then run whatever became the job's turn (a queued slot)."""
        claim = self.claim(name, trigger=trigger, manual=manual, early=early)
        runs = [self.execute(claim)] if claim.status is ClaimStatus.STARTED else []
        if runs:
            runs.extend(self.follow(name, trigger=trigger))
        return claim, runs

    def follow(self, name: str, *, trigger: str, limit: int = 5) -> list[JobRun]:
        """After a run: run the job's queued (or newly due) slots, at most ``limit``."""
        runs: list[JobRun] = []
        for _ in range(limit):
            if self.stopping.is_set():
                break
            claim = self.claim(name, trigger=trigger)
            if claim.status is not ClaimStatus.STARTED:
                break
            runs.append(self.execute(claim))
        return runs

    def execute(self, claim: Claim) -> JobRun:
        """Run a slot this process claimed, and record its outcome (fenced)."""
        row = claim.row
        if claim.status is not ClaimStatus.STARTED or row is None or row.run_id is None:
            raise ValueError("only a started claim can be executed")
        job = self.job(claim.job)
        started = time.perf_counter()
        if not self.ledger.start(row, self.clock.now()):
            lost = "the slot was taken away before its run started"
            return JobRun(job.name, row.slot, row.run_id, SlotStatus.FAILED, 0.0, None, lost, False)
        self.pinger.start(job.ping)
        # From the claim on, the slot's lease is renewed (opening the store and recovering may
        # take longer than one lease), and every batch first checks that the slot is still
        # this runner's: a runner that lost it stops before changing anything more.
        stop = StopFlag(guard=lambda: None if self.ledger.holds(row) else _TAKEN)
        heartbeat = Lease(
            lambda _now, expires: self.ledger.renew(row, expires),
            self.clock.now,
            self.claimer.lease,
            stop,
            "slot",
        )
        with heartbeat:
            result, status, note = self._run(job, row.run_id, stop)
        seconds = time.perf_counter() - started
        recorded = status is not None and self.ledger.finish(row, status, self.clock.now(), note)
        if not recorded:
            note = note or "the runner lost its lease; its outcome was refused"
            log.error("job %s slot %s: %s", job.name, row.slot.isoformat(), note)
        final = status or SlotStatus.FAILED
        self.pinger.finish(job.ping, final is SlotStatus.SUCCEEDED)
        report = JobRun(job.name, row.slot, row.run_id, final, seconds, result, note, recorded)
        log.info("job %s slot %s: %s in %.1f s", job.name, row.slot.isoformat(), final, seconds)
        for observer in self.observers:
            observer(report)
        return report

    def _run(
        self, job: JobConfig, run_id: str, stop: StopFlag
    ) -> tuple[RunResult | None, SlotStatus | None, str | None]:
        """The run itself; a None status means the outcome must not be recorded."""
        timer = None
        if job.timeout is not None:
            reason = f"timeout: the job ran longer than {job.timeout}"
            timer = threading.Timer(fixed(job.timeout).total_seconds(), stop.set, (reason,))
            timer.daemon = True
            timer.start()
        with self._lock:
            self._flags.add(stop)
        try:
            # The service's clock, so a run judges at the instant its slot was claimed by.
            with Lethe(self.settings, clock=self.clock) as lethe:
                result = lethe.run(job.policies, stop=stop, run_id=run_id)
            note = "; ".join(result.errors)[:2000] or None
            return result, _SLOT_STATUS.get(result.status, SlotStatus.FAILED), note
        except SafetyLimitError as exc:
            return exc.result, SlotStatus.FAILED, str(exc)
        except LeaseLostError as exc:
            return None, None, str(exc)
        except LetheError as exc:
            return None, SlotStatus.FAILED, str(exc)
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._flags.discard(stop)

    def set_paused(self, name: str, paused: bool, by: str) -> None:
        """``lethe jobs pause`` / ``resume``: kept in the state database for every replica."""
        self.claimer.set_paused(self.job(name), self.clock.now(), paused, by)

    def stop_all(self, reason: str) -> None:
        """Ask every run in flight in this process to stop after its current batch."""
        self.stopping.set()
        with self._lock:
            flags = list(self._flags)
        for flag in flags:
            flag.set(reason)

    def close(self) -> None:
        """Wait for pings in flight and release connections."""
        self.pinger.wait()
        self.state.dispose()
