"""Human-readable output of the job commands."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.console import Console
from rich.table import Table

from lethe.jobs.claims import Claim
from lethe.jobs.runner import JobRun
from lethe.jobs.status import JobStatus
from lethe.model.text import stamp

__all__ = ["render_claim", "render_jobs"]


def _when(value: datetime | None, zone: tzinfo) -> str:
    if value is None:
        return "-"
    local = value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M %Z} ({value:%H:%M} UTC)"


def render_jobs(console: Console, statuses: list[JobStatus]) -> None:
    """One row per job, then the problems."""
    table = Table("job", "schedule", "next slot", "last run", "last success", "missed")
    for s in statuses:
        zone = s.job.cron.tz
        last = s.last_run
        last_text = f"{_when(last.slot, zone)} {last.status.value}" if last else "never"
        table.add_row(
            s.job.name + (" (paused)" if s.paused else ""),
            f"{s.job.schedule} {s.job.timezone}",
            _when(s.next_slots[0] if s.next_slots else None, zone),
            last_text,
            _when(s.last_success, zone),
            str(s.missed),
        )
    console.print(table)
    for s in statuses:
        for problem in s.problems:
            console.print(f"[red]unhealthy:[/] {problem}")


def render_claim(console: Console, claim: Claim, runs: list[JobRun]) -> None:
    """What one trigger did, and how its runs ended."""
    slot = f" slot {stamp(claim.slot)}" if claim.slot else ""
    console.print(f"{claim.job}: {claim.status.value}{slot} — {claim.reason}", markup=False)
    for run in runs:
        note = f" ({run.note})" if run.note else ""
        console.print(
            f"  run {run.run_id} for slot {stamp(run.slot)}: {run.status.value}{note}",
            markup=False,
        )
