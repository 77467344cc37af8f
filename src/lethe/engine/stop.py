"""Asking a run to stop at the next batch boundary, from any thread (signal, timeout, lease).

The executor checks the flag before each batch: the batch in flight finishes and commits, the
run is recorded ``interrupted`` with the reason, and nothing is left half-done. A flag may carry
a ``guard`` asked at every check — a job's slot fence: a slot taken over by another runner
stops the run before its next batch, not at the next heartbeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["StopFlag", "StopRequested"]


class StopRequested(Exception):
    """Raised between batches when the run's :class:`StopFlag` is set."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopFlag:
    """A one-way flag with the reason it was set first.

    ``guard``, when given, is called by every :meth:`check`; a reason it returns sets the flag.
    """

    def __init__(self, guard: Callable[[], str | None] | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.guard = guard

    def set(self, reason: str) -> None:
        """Ask the run to stop; the first reason given is kept."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a stop; return whether one was asked for."""
        return self._event.wait(timeout)

    def check(self) -> None:
        """Raise :class:`StopRequested` if a stop was asked for (or the guard says so)."""
        if not self._event.is_set() and self.guard is not None:
            reason = self.guard()
            if reason:
                self.set(reason)
        if self._event.is_set():
            raise StopRequested(self.reason or "stop requested")
