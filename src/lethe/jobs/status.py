"""What the ledger says about each job: next slots, last run, last success, missed slots and
health — for ``lethe jobs list``, ``GET /jobs``, ``GET /health`` and the metrics.

A job is **unhealthy** when its last success (or, before any, the moment lethe first saw it) is
older than ``alert_after``; by default twice the gap between its next two slots plus five
minutes (a daily job: 48 h 5 min), the "no successful run in 48 h" alert users ask for. A paused
job is never unhealthy; it is reported as paused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from lethe.config.jobs import JobConfig, fixed
from lethe.model.text import duration, stamp
from lethe.schedule.decide import SlotStatus
from lethe.state.slots import SlotLedger, SlotRow

__all__ = ["JobStatus", "alert_window", "job_statuses"]

_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class JobStatus:
    """One job, as the ledger sees it at ``now``."""

    job: JobConfig
    now: datetime
    paused: bool
    next_slots: list[datetime]
    last_run: SlotRow | None
    last_success: datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def missed(self) -> int:
        """Slots that never ran because lethe was down past the catch-up window."""
        return self.counts.get(SlotStatus.MISSED.value, 0)

    def to_document(self) -> dict[str, Any]:
        """JSON-ready; instants in UTC and in the job's time zone."""
        zone = self.job.cron.tz

        def both(value: datetime | None) -> dict[str, str] | None:
            if value is None:
                return None
            return {"utc": value.isoformat(), "local": value.astimezone(zone).isoformat()}

        return {
            "name": self.job.name,
            "schedule": self.job.schedule,
            "timezone": self.job.timezone,
            "policies": list(self.job.policies),
            "paused": self.paused,
            "nextSlots": [both(s) for s in self.next_slots],
            "lastRun": self.last_run.to_document() if self.last_run else None,
            "lastSuccess": both(self.last_success),
            "slots": dict(sorted(self.counts.items())),
            "missed": self.missed,
            "healthy": self.healthy,
            "problems": list(self.problems),
        }


def alert_window(job: JobConfig, now: datetime) -> timedelta:
    """How long a job may go without a success before it is reported."""
    if job.alert_after is not None:
        return fixed(job.alert_after)
    upcoming = list(islice(job.cron.after(now), 2))
    if len(upcoming) < 2:
        return timedelta(days=366)
    return 2 * (upcoming[1] - upcoming[0]) + _GRACE


def job_statuses(jobs: list[JobConfig], ledger: SlotLedger, now: datetime) -> list[JobStatus]:
    """Every job's status, read from the ledger in a few queries."""
    totals = ledger.totals()
    successes = ledger.last_success()
    known = ledger.job_rows()
    statuses = []
    for job in jobs:
        paused_by_cli, first_seen = known.get(job.name, (False, now))
        paused = job.paused or paused_by_cli
        history = ledger.history(job.name, limit=50)
        last_run = next((r for r in history if r.run_id and r.attempt > 0), None)
        last_success = successes.get(job.name)
        problems = []
        baseline = last_success or first_seen
        window = alert_window(job, now)
        if not paused and now - baseline > window:
            since = f"since {stamp(last_success)}" if last_success else "ever"
            problems.append(
                f"job {job.name}: no successful run {since} (alert_after {duration(window)})"
            )
        statuses.append(
            JobStatus(
                job=job,
                now=now,
                paused=paused,
                next_slots=list(islice(job.cron.after(now), 3)),
                last_run=last_run,
                last_success=last_success,
                counts={s: n for (name, s), n in totals.items() if name == job.name},
                problems=problems,
            )
        )
    return statuses
