"""Human-readable output of ``lethe runs`` and ``lethe runs show``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.console import Console

from lethe import secrets
from lethe.cli.render import phase_lines
from lethe.cli.tables import print_table
from lethe.model.results import PhaseResult, RunStatus
from lethe.model.text import duration, stamp

__all__ = ["render_run", "render_runs"]

_COLORS = {"succeeded": "green", "degraded": "yellow", "running": "cyan"}


def _status(status: str) -> str:
    return f"[{_COLORS.get(status, 'red')}]{status}[/]"


def render_runs(console: Console, rows: list[dict[str, Any]]) -> None:
    """The run list, ids in full (``lethe runs show`` takes them)."""
    table = [
        [
            row["runId"],
            stamp(row["startedAt"]),
            ", ".join(row["policies"]),
            "yes" if row["dryRun"] else "",
            _status(row["status"]),
            _deleted(row),
            str(row["errors"]),
        ]
        for row in rows
    ]
    headers = ("run id", "started", "policies", "dry run", "status", "deleted", "errors")
    print_table(console, headers, table)
    if not rows:
        console.print("No runs recorded yet.")


def _deleted(row: Mapping[str, Any]) -> str:
    """A dry run deleted nothing, whatever it found."""
    would = row.get("wouldDelete", 0)
    return f"0 (would be {would})" if would else str(row["deleted"])


def render_run(console: Console, record: Mapping[str, Any]) -> None:
    """One run's record: when, how it ended, counts per table and action, phases, errors,
    and the audit chain head it left."""
    dry = record.get("dryRun")
    title = f"Run {record['runId']}{' (dry run: nothing was changed)' if dry else ''}"
    console.print(f"{title}: {_status(record['status'])}")
    _times(console, record)
    console.print(f"  policies: {', '.join(record.get('policies', []))}", markup=False)
    head = record.get("auditHead")
    if head:
        console.print(f"  audit chain head: event {head['seq']}, {head['hash']}")
    process = record.get("process")
    if record["status"] == RunStatus.RUNNING.value and process:
        console.print(f"  running on {process.get('host')} as process {process.get('pid')}")
    counts: Mapping[str, Mapping[str, int]] = record.get("counts", {})
    actions = sorted({action for per in counts.values() for action in per})
    if actions:
        console.print(f"\n{'Would change' if dry else 'Rows changed'}, per table and action:")
        rows = [[table, *(str(per.get(a, 0)) for a in actions)] for table, per in counts.items()]
        print_table(console, ("table", *actions), rows)
    _phases(console, record)
    _notes(console, record)


def _times(console: Console, record: Mapping[str, Any]) -> None:
    started, completed = record.get("startedAt"), record.get("completedAt")
    if record.get("asOf") and record.get("asOf") != started:
        console.print(f"  evaluated as of {stamp(record['asOf'])}")
    line = f"  started {stamp(started)}"
    if completed and started:
        took = datetime.fromisoformat(completed) - datetime.fromisoformat(started)
        line += f", finished {stamp(completed)}, took {duration(took)}"
    console.print(line)


def _phases(console: Console, record: Mapping[str, Any]) -> None:
    phases = [PhaseResult.from_document(p) for p in record.get("phases", [])]
    for phase in phases:
        console.print(
            f"\n{phase.policy} [{phase.phase}] {phase.action} ({phase.dataset}):", markup=False
        )
        for line, _keys in phase_lines(phase, bool(record.get("dryRun")), None):
            console.print(f"  {line}", markup=False)


def _notes(console: Console, record: Mapping[str, Any]) -> None:
    drift = record.get("drift") or {}
    if drift:
        text = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in drift.items())
        console.print(f"\nDrift since the plan: {text}")
    if record.get("limitTripped"):
        console.print(f"\n[red]Refused by a safety limit:[/] {record['limitTripped']}")
    for warning in record.get("warnings", []):
        console.print(f"[yellow]note:[/] {warning}")
    errors = record.get("errors", [])
    if errors:
        console.print(f"\nErrors ({len(errors)}):")
    for error in errors:
        console.print(f"  [red]error:[/] {secrets.scrub(str(error))}")
