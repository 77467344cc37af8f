"""The overdue count (:mod:`lethe.evidence.attest`) for ``/metrics`` and ``/health``.

Counting opens every store, so a scrape every few seconds must not recount: the last reading
is kept for :data:`REFRESH` and shared by both endpoints. A store that cannot be read leaves
the figure out (``None``) rather than failing the scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from lethe.engine.runtime import Runtime
from lethe.errors import LetheError
from lethe.evidence.attest import attest
from lethe.jobs.runner import JobService

__all__ = ["REFRESH", "OverdueReading"]

#: How long one count is served before the next scrape recounts.
REFRESH = 60.0


class OverdueReading:
    """Items overdue per ``(policy, dataset)``, recounted at most every :data:`REFRESH` s."""

    def __init__(self, service: JobService, refresh: float = REFRESH) -> None:
        self.service = service
        self.refresh = refresh
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._counts: dict[tuple[str, str], int] | None = None

    def counts(self) -> Mapping[tuple[str, str], int] | None:
        """The latest counts, or None when the stores could not be read."""
        with self._lock:
            if time.monotonic() - self._at >= self.refresh:
                self._counts = self._count()
                self._at = time.monotonic()
            return self._counts

    def total(self) -> int | None:
        counts = self.counts()
        return None if counts is None else sum(counts.values())

    def _count(self) -> dict[tuple[str, str], int] | None:
        try:
            rt = Runtime(self.service.settings, self.service.clock)
        except LetheError:
            return None
        try:
            # The counts alone: samples and the oldest instant cost reads every minute.
            report = attest(rt, None, self.service.clock.now(), samples=0)
        except LetheError:
            return None
        finally:
            rt.close()
        counts: dict[tuple[str, str], int] = {}
        for phase in report.phases:
            slot = (phase.policy, phase.dataset)
            counts[slot] = counts.get(slot, 0) + phase.overdue
        return counts
