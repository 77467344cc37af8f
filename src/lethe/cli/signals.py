"""SIGTERM and SIGINT for long-running commands: ask for a clean stop instead of dying.

A platform stopping a container (Kubernetes, Cloud Run, systemd) sends SIGTERM and waits: the
batch in flight finishes, the run is recorded ``interrupted``, and the process exits by itself.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["stop_on_signals"]


@contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Call ``stop(reason)`` on SIGTERM or SIGINT while inside the block."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop(f"{signal.Signals(signum).name} received")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
