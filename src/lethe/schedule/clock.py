"""Where the scheduler gets the time from, so tests can move it instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """Tells the time and waits; every instant is timezone-aware UTC."""

    def now(self) -> datetime:
        """The current instant."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to ``seconds`` (less if ``stop`` is set); return whether ``stop`` is set."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


class ManualClock:
    """A clock that stands still until told; ``sleep`` moves it forward at once (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        with self._lock:
            self._now += delta

    def set(self, instant: datetime) -> None:
        """Put the clock at ``instant``."""
        with self._lock:
            self._now = instant.astimezone(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.advance(timedelta(seconds=max(seconds, 0.0)))
        return stop.is_set()


class ScaledClock:
    """Time that runs ``rate`` times faster than real time from ``start`` (tests of daemons)."""

    def __init__(self, start: datetime, rate: float, origin: float | None = None) -> None:
        self.start = start.astimezone(UTC)
        self.rate = rate
        self.origin = time.time() if origin is None else origin

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin) * self.rate)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0) / self.rate)
