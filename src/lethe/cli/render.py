"""Human-readable output. Machines use ``--json``, which prints the documents instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from lethe import secrets
from lethe.engine.check import CheckReport
from lethe.engine.explain import Explanation
from lethe.holds.registry import Hold
from lethe.model.plan import PhasePlan, Plan
from lethe.model.results import PhaseResult, RunResult, RunStatus

__all__ = [
    "render_check",
    "render_explain",
    "render_holds",
    "render_plan",
    "render_result",
    "render_runs",
    "stamp",
]

_SHOWN_KEYS = 20


def stamp(value: datetime | str | None) -> str:
    """``2024-10-26 02:00:00 UTC``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cascade_text(cascade: dict[str, int] | Any) -> str:
    parts = [f"{rows} {table}" for table, rows in sorted(cascade.items()) if rows]
    return f" (with {', '.join(parts)})" if parts else ""


def _keys_text(keys: Sequence[Any]) -> str:
    shown = ", ".join(str(k) for k in keys[:_SHOWN_KEYS])
    more = len(keys) - _SHOWN_KEYS
    return shown + (f" … and {more} more" if more > 0 else "")


def render_plan(console: Console, plan: Plan, *, verbose: bool) -> None:
    """The plan as a table, the keys of each phase, then warnings and breaker verdicts."""
    console.print(f"Plan at {stamp(plan.as_of)} (reads only; nothing was changed)\n")
    table = Table("policy", "phase", "action", "items", "held", "capped", "cascaded rows")
    for p in plan.phases:
        cascade = ", ".join(f"{t}: {n}" for t, n in sorted(p.cascade.items()) if n) or "-"
        table.add_row(
            p.policy,
            str(p.phase),
            p.action,
            f"{len(p.keys)} {p.dataset}",
            str(len(p.held)),
            str(p.capped),
            cascade,
        )
    console.print(table)
    for p in plan.phases:
        if p.keys and (verbose or len(p.keys) <= _SHOWN_KEYS):
            console.print(f"  {p.policy} [{p.phase}] {p.action}: {_keys_text(list(p.keys))}")
        if p.held:
            console.print(f"  {p.policy} [{p.phase}] held: {_keys_text(list(p.held))}")
        _print_notes(console, p, verbose=verbose)
        if p.unreadable:
            unreadable = _keys_text(list(p.unreadable))
            console.print(f"  {p.policy} [{p.phase}] age unreadable, kept: {unreadable}")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for error in plan.errors:
        console.print(f"[red]refused:[/] {error}")


def _print_notes(console: Console, phase: PhasePlan, *, verbose: bool) -> None:
    """A phase's own lines: a warning phase's summary and the messages it would send."""
    for line in phase.summary:
        console.print(f"  {phase.policy} [{phase.phase}] {line}", markup=False)
    shown = phase.notes if verbose else phase.notes[:_SHOWN_KEYS]
    for note in shown:
        console.print(f"    {note}", markup=False)
    if len(shown) < len(phase.notes):
        console.print(f"    … and {len(phase.notes) - len(shown)} more (-v lists them all)")


def _phase_lines(phase: PhaseResult, dry_run: bool) -> list[str]:
    prefix = "Would be " + phase.label.lower() if dry_run else phase.label
    lines = list(phase.summary) or [
        f"{prefix}: {phase.acted} {phase.dataset}{_cascade_text(phase.cascade)}"
    ]
    if phase.held:
        lines.append(f"Skipped, under hold: {phase.held} {phase.dataset}")
    if phase.blocked:
        lines.append(f"Waiting (blocked by another phase): {phase.blocked} {phase.dataset}")
    if phase.capped:
        lines.append(f"Capped (max_deletions reached; next run continues): {phase.capped}")
    if phase.unreadable:
        lines.append(f"Skipped, age missing or unreadable: {phase.unreadable} {phase.dataset}")
    if phase.failed:
        lines.append(f"Failed (left for the next run): {phase.failed} {phase.dataset}")
    return lines


def render_result(console: Console, result: RunResult, *, plan: Plan | None = None) -> None:
    """A run summary in the seeds' style."""
    kind = "dry run" if result.dry_run else "run"
    console.print(f"Starting lethe {kind} {result.run_id} at {stamp(result.started_at)}")
    if result.as_of != result.started_at:
        console.print(f"Evaluated as of {stamp(result.as_of)}")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/] {warning}")
    current = None
    for phase in result.phases:
        if phase.policy != current:
            current = phase.policy
            console.print(f"\n--- {phase.policy} ({phase.dataset}) ---")
        for line in _phase_lines(phase, result.dry_run):
            console.print(line)
        planned = plan.phase(phase.policy, phase.phase) if plan else None
        if planned is not None and planned.notes:
            for note in planned.notes:
                console.print(f"    {note}", markup=False)
        elif planned is not None and planned.keys:
            console.print(f"    {_keys_text(list(planned.keys))}")
    if result.drift:
        drift = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.drift.items())
        console.print(f"\nDrift since the plan: {drift}")
    if result.limit_tripped:
        console.print(
            f"\n[red]Refused by a safety limit; nothing was changed:[/] {result.limit_tripped}"
        )
    for error in result.errors:
        console.print(f"[red]error:[/] {secrets.scrub(error)}")
    if result.deleted and not result.dry_run:
        console.print(
            f"\n⚠️  {result.deleted} items were deleted. Audit trail: "
            f"lethe runs show {result.run_id}"
        )
    seconds = (result.completed_at - result.started_at).total_seconds()
    console.print(
        f"\nlethe {kind} {result.status.value} at {stamp(result.completed_at)} ({seconds:.2f} s)"
    )


def render_check(console: Console, report: CheckReport) -> None:
    """One line per finding, with the fix to run under it."""
    marks = {"ok": "[green]✓[/]", "warning": "[yellow]![/]", "error": "[red]✗[/]"}
    for finding in report.findings:
        where = "" if finding.dataset == "-" else f"{finding.dataset}: "
        console.print(f"{marks[finding.level]} {where}{finding.message}")
        if finding.fix:
            console.print(f"    fix: {finding.fix}")
    errors = sum(1 for f in report.findings if f.level == "error")
    console.print(
        f"\n{'OK' if report.ok else 'FAILED'}: {errors} errors, {len(report.warnings)} warnings"
    )


def render_explain(console: Console, exp: Explanation) -> None:
    """Which phases would take the item, when, and what stops them."""
    console.print(f"{exp.dataset} {exp.key}")
    if not exp.exists:
        console.print("  not found in the store (deleted, or never existed)")
    for field_name, value in sorted(exp.row.items()):
        console.print(f"  {field_name} = {value!s}")
    for v in exp.verdicts:
        if v.selected_now:
            state = "[bold]due now[/]"
        elif v.from_instant:
            state = f"due from {stamp(v.from_instant)}"
        else:
            state = "not selected"
        console.print(f"  policy {v.policy} [{v.phase}] {v.action}: {state}")
        for unmet in v.unmet:
            console.print(f"      needs: {unmet}")
        if v.waits_for:
            console.print(f"      waits: {v.waits_for}", markup=False)
    for hold in exp.registry_holds:
        console.print(
            f"  [red]held[/] by hold #{hold.id} ({hold.reason}; placed by "
            f"{hold.placed_by} at {stamp(hold.placed_at)})"
        )
    if exp.held_by_table:
        console.print("  [red]held[/] by the application's hold table")
    if exp.exists and not exp.blocked and not any(v.selected_now for v in exp.verdicts):
        console.print("  nothing blocks it once it is due")
    for warning in exp.warnings:
        if warning.delivered:
            state = f"delivered {stamp(warning.delivered_at)}"
        elif warning.in_flight:
            state = f"being sent since {stamp(warning.claimed_at)}"
        elif warning.outcome_unknown:
            state = f"outcome unknown; the next run resends it as {warning.message_id}"
        else:
            state = f"not delivered yet ({warning.error or 'outcome unknown'})"
        console.print(
            f"  warning: {warning.milestone} notice ({warning.policy}) {state}, "
            f"{warning.attempts} attempt{'s' if warning.attempts != 1 else ''}",
            markup=False,
        )
    for event in exp.history:
        detail = event["details"].get("milestone") if event["event"] == "warned" else None
        console.print(
            f"  history: {event['ts'][:19]} {event['event']}"
            f"{f' {detail} notice' if detail else ''} (run {event['run_id']})"
        )


def render_runs(console: Console, rows: list[dict[str, Any]]) -> None:
    """The run list."""
    table = Table("run id", "started", "policies", "dry run", "status", "deleted", "errors")
    for row in rows:
        status = row["status"]
        color = {"succeeded": "green", "degraded": "yellow"}.get(status, "red")
        if status == RunStatus.RUNNING.value:
            color = "cyan"
        table.add_row(
            row["runId"],
            stamp(row["startedAt"]),
            ", ".join(row["policies"]),
            "yes" if row["dryRun"] else "",
            f"[{color}]{status}[/]",
            str(row["deleted"]),
            str(row["errors"]),
        )
    console.print(table)


def render_holds(console: Console, holds: list[Hold]) -> None:
    """The hold registry."""
    table = Table("id", "dataset", "key", "reason", "placed by", "placed at", "released")
    for hold in holds:
        released = (
            f"{stamp(hold.released_at)} by {hold.released_by}"
            if hold.released_at
            else "[red]active[/]"
        )
        table.add_row(
            str(hold.id),
            hold.dataset,
            hold.item_key,
            hold.reason,
            hold.placed_by,
            stamp(hold.placed_at),
            released,
        )
    console.print(table)
