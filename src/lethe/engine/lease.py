"""A run's lease in the state database, kept alive by a heartbeat thread.

Every run holds a lease (``lethe_runs.lease_expires_at``) renewed four times per lease period.
A run whose lease expired is taken as dead by whoever looks next (:mod:`lethe.engine.recovery`,
the job ledger) and marked ``interrupted``; its job slot may be retried. When the heartbeat
finds its run no longer ``running`` — someone reaped it — or cannot renew the lease before it
expires, it sets the run's :class:`~lethe.engine.stop.StopFlag`, so the run stops at the next
batch and its final record is refused (:class:`~lethe.errors.LeaseLostError`).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from lethe.engine.stop import StopFlag
from lethe.errors import LetheError
from lethe.state.runs import RunLog

__all__ = ["RunLease"]


class RunLease:
    """Renews ``run_id``'s lease every ``duration / 4`` until the ``with`` block ends."""

    def __init__(self, runs: RunLog, run_id: str, duration: timedelta, stop: StopFlag) -> None:
        self.runs = runs
        self.run_id = run_id
        self.duration = duration
        self.stop = stop
        self.expires = runs.state.now() + duration
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> RunLease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        interval = self.duration.total_seconds() / 4
        while not self._done.wait(interval):
            self.beat()

    def beat(self) -> None:
        """Renew the lease once; on loss, ask the run to stop."""
        now = self.runs.state.now()
        try:
            alive = self.runs.heartbeat(self.run_id, now, now + self.duration)
        except LetheError:
            alive = None  # the state database is unreachable: retry until the lease runs out
        if alive:
            self.expires = now + self.duration
        elif alive is False:
            self.stop.set("lease lost: another process marked this run as dead")
        elif now >= self.expires:
            self.stop.set("lease expired: the state database could not be reached to renew it")
