"""Helpers for testing your own policies with lethe (public API).

A policy that deletes after 30 days, warns 7 days before, or purges after a grace period is best
tested by living through those days. A real run never acts at an ``as_of`` later than the
clock's now, and stamps every record (audit events, deliveries, leases, soft-delete markers)
with the clock's time — so simulate time with a :class:`ManualClock`, not with ``as_of``::

    from datetime import UTC, datetime, timedelta
    from lethe import Lethe
    from lethe.testing import ManualClock

    clock = ManualClock(datetime(2024, 10, 1, tzinfo=UTC))
    with Lethe.from_file("lethe.toml", clock=clock) as lethe:
        lethe.run()                          # runs at 2024-10-01
        clock.advance(timedelta(days=7))
        result = lethe.run()                 # a week later, as far as lethe can tell

The clock stands still until told; every process sharing the state database should use the
same one (leases and heartbeats are judged by it too).
"""

from __future__ import annotations

from lethe.schedule.clock import Clock, ManualClock

__all__ = ["Clock", "ManualClock"]
