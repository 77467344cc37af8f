"""Leases in the state database, kept alive by a heartbeat thread.

Every run holds a lease (``lethe_runs.lease_expires_at``), and a job's slot holds one from
the moment it is claimed (``lethe_slots.lease_expires_at``), each renewed four times per lease
period. A run whose lease expired is taken as dead by whoever looks next
(:mod:`lethe.engine.recovery`, the job ledger) and marked ``interrupted``; its job slot may be
retried. When a heartbeat finds its lease taken — someone reaped the run or the slot — or
cannot renew it before it expires, it sets the run's :class:`~lethe.engine.stop.StopFlag`, so
the run stops at the next batch and its final record is refused
(:class:`~lethe.errors.LeaseLostError`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from lethe.engine.stop import StopFlag
from lethe.errors import LetheError
from lethe.state.runs import RunLog

__all__ = ["Lease", "run_lease"]

#: Renew a lease to expire at the given instant; False when it was taken away.
Renew = Callable[[datetime, datetime], bool]


class Lease:
    """Renews a lease every ``duration / 4`` until the ``with`` block ends.

    ``renew(now, expires)`` writes the new expiry (``now`` by ``clock``); ``what`` names the
    lease in the reason given to ``stop``.
    """

    def __init__(
        self,
        renew: Renew,
        clock: Callable[[], datetime],
        duration: timedelta,
        stop: StopFlag,
        what: str,
    ) -> None:
        self.renew = renew
        self.clock = clock
        self.duration = duration
        self.stop = stop
        self.what = what
        self.expires = clock() + duration
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{what}", daemon=True)

    def __enter__(self) -> Lease:
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
        now = self.clock()
        try:
            alive: bool | None = self.renew(now, now + self.duration)
        except LetheError:
            alive = None  # the state database is unreachable: retry until the lease runs out
        if alive:
            self.expires = now + self.duration
        elif alive is False:
            self.stop.set(f"lease lost: another process took over this {self.what}")
        elif now >= self.expires:
            self.stop.set(
                f"lease expired: the state database could not be reached to renew this {self.what}"
            )


def run_lease(runs: RunLog, run_id: str, duration: timedelta, stop: StopFlag) -> Lease:
    """The lease of run ``run_id`` (``lethe_runs``), renewed by its heartbeat."""
    return Lease(
        lambda now, expires: runs.heartbeat(run_id, now, expires),
        runs.state.now,
        duration,
        stop,
        "run",
    )
