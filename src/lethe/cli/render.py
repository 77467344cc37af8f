"""Human-readable output. Machines use ``--json``, which prints the documents instead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from lethe import secrets
from lethe.cli.formats import plural
from lethe.cli.tables import print_table
from lethe.config.model import LetheConfig
from lethe.engine.check import CheckReport
from lethe.engine.explain import Explanation
from lethe.holds.registry import Hold
from lethe.model.keys import key_text
from lethe.model.plan import PhasePlan, Plan
from lethe.model.results import PhaseResult, RunResult
from lethe.model.text import duration, stamp
from lethe.state.approvals import next_steps

__all__ = [
    "phase_lines",
    "render_breaker_help",
    "render_check",
    "render_explain",
    "render_holds",
    "render_plan",
    "render_result",
]

_SHOWN_KEYS = 20


def _cascade_text(cascade: dict[str, int] | Any) -> str:
    parts = [f"{rows} {table}" for table, rows in sorted(cascade.items()) if rows]
    return f" (with {', '.join(parts)})" if parts else ""


def _keys_text(keys: Sequence[Any], *, every: bool = False) -> str:
    """The keys, the first few of them unless ``every``."""
    limit = len(keys) if every else _SHOWN_KEYS
    shown = ", ".join(key_text(k) for k in keys[:limit])
    more = len(keys) - limit
    return shown + (f" … and {more} more" if more > 0 else "")


def render_plan(
    console: Console, plan: Plan, *, verbose: bool, config: LetheConfig | None = None
) -> None:
    """The plan as a table, the keys of each phase, then warnings and breaker verdicts."""
    console.print(f"Plan at {stamp(plan.as_of)} (reads only; nothing was changed)\n")
    rows = [
        [
            p.policy,
            str(p.phase),
            p.action,
            f"{len(p.keys)} {p.dataset}",
            str(len(p.held)),
            str(len(p.blocked)),
            str(p.capped),
            ", ".join(f"{t}: {n}" for t, n in sorted(p.cascade.items()) if n) or "-",
            ", ".join(f"{t}: {n}" for t, n in sorted(p.updated.items()) if n) or "-",
        ]
        for p in plan.phases
    ]
    headers = (
        "policy",
        "phase",
        "action",
        "items",
        "held",
        "blocked",
        "capped",
        "cascaded rows",
        "set null/default",
    )
    print_table(console, headers, rows)
    for p in plan.phases:
        if p.keys and (verbose or len(p.keys) <= _SHOWN_KEYS):
            keys = _keys_text(list(p.keys), every=verbose)
            console.print(f"  {p.policy} [{p.phase}] {p.action}: {keys}", markup=False)
        if p.held:
            held = _keys_text(list(p.held), every=verbose)
            console.print(f"  {p.policy} [{p.phase}] held: {held}", markup=False)
        reasons = sorted(p.blocked.items())
        for key, why in reasons if verbose else reasons[:_SHOWN_KEYS]:
            console.print(f"  {p.policy} [{p.phase}] {key} {why}", markup=False)
        if not verbose and len(reasons) > _SHOWN_KEYS:
            more = len(reasons) - _SHOWN_KEYS
            console.print(f"  … and {more} more blocked (-v lists them all)")
        _print_notes(console, p, verbose=verbose)
        for whole in p.details.get("partitions", ()):
            line = f"drops partition {whole['partition']} whole: {whole['rows']} rows"
            console.print(f"  {p.policy} [{p.phase}] {line}", markup=False)
        if p.unreadable:
            unreadable = _keys_text(list(p.unreadable), every=verbose)
            console.print(
                f"  {p.policy} [{p.phase}] date unreadable, kept: {unreadable}", markup=False
            )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for error in plan.errors:
        console.print(f"[red]refused:[/] {error}")
    if plan.errors:
        render_breaker_help(console, config, " ".join(plan.errors))


def _print_notes(console: Console, phase: PhasePlan, *, verbose: bool) -> None:
    """A phase's own lines: a warning phase's summary and the messages it would send."""
    for line in phase.summary:
        console.print(f"  {phase.policy} [{phase.phase}] {line}", markup=False)
    shown = phase.notes if verbose else phase.notes[:_SHOWN_KEYS]
    for note in shown:
        console.print(f"    {note}", markup=False)
    if len(shown) < len(phase.notes):
        console.print(f"    … and {len(phase.notes) - len(shown)} more (-v lists them all)")


def phase_lines(
    phase: PhaseResult, dry_run: bool, planned: PhasePlan | None
) -> list[tuple[str, Sequence[Any]]]:
    """Each line of a phase's summary, with the keys it counts when ``planned`` lists them
    (a dry run with ``-v``)."""
    keys, held, blocked, unreadable = (
        (planned.keys, planned.held, sorted(planned.blocked), planned.unreadable)
        if planned
        else ((), (), [], ())
    )
    prefix = "Would be " + phase.label.lower() if dry_run else phase.label
    acted = f"{prefix}: {phase.acted} {phase.dataset}{_cascade_text(phase.cascade)}"
    lines: list[tuple[str, Sequence[Any]]] = [(line, ()) for line in phase.summary]
    lines = lines or [(acted, keys)]
    for whole in phase.details.get("partitions", ()):
        verb = "Would drop" if dry_run else "Dropped"
        lines.append((f"  {verb} partition {whole['partition']} whole: {whole['rows']} rows", ()))
    if phase.held:
        lines.append((f"Skipped, under hold: {phase.held} {phase.dataset}", held))
    if phase.updated:
        parts = ", ".join(f"{n} {t}" for t, n in sorted(phase.updated.items()) if n)
        verb = "Would set" if dry_run else "Set"
        lines.append((f"{verb} NULL or default in referencing rows: {parts}", ()))
    if phase.blocked:
        waiting = f"Blocked, kept for the next run: {phase.blocked} {phase.dataset}"
        reasons = [f"{k}: {planned.blocked[k]}" for k in blocked] if planned else []
        lines.append((waiting, reasons))
    if phase.capped:
        lines.append((f"Capped (max_deletions reached; next run continues): {phase.capped}", ()))
    if phase.unreadable:
        skipped = f"Skipped, date missing or unreadable: {phase.unreadable} {phase.dataset}"
        lines.append((skipped, unreadable))
    if phase.failed:
        refused = f"Skipped, refused by the store (tried again next run): {phase.failed}"
        lines.append((f"{refused} {phase.dataset}", ()))
    return lines


def render_result(
    console: Console,
    result: RunResult,
    *,
    verbose: bool = False,
    config: LetheConfig | None = None,
) -> None:
    """A run summary in the seeds' style; a verbose dry run lists the keys under each line."""
    kind = "dry run" if result.dry_run else "run"
    console.print(f"Starting lethe {kind} {result.run_id} at {stamp(result.started_at)}")
    if result.as_of != result.started_at:
        console.print(f"Evaluated as of {stamp(result.as_of)}")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/] {warning}")
    plan = result.plan if verbose else None
    current = None
    for phase in result.phases:
        if phase.policy != current:
            current = phase.policy
            console.print(f"\n--- {phase.policy} ({phase.dataset}) ---")
        planned = plan.phase(phase.policy, phase.phase) if plan else None
        for line, keys in phase_lines(phase, result.dry_run, planned):
            console.print(line, markup=False)
            if keys:
                console.print(f"    {_keys_text(list(keys), every=True)}", markup=False)
        for note in planned.notes if planned else ():
            console.print(f"    {note}", markup=False)
    if result.drift:
        drift = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.drift.items())
        console.print(f"\nDrift since the plan: {drift}")
    if result.limit_tripped:
        tripped, _, _ = result.limit_tripped.partition(f"; {next_steps(result.run_id)}")
        console.print(f"\n[red]Refused by a safety limit; nothing was changed:[/] {tripped}")
        recorded = tripped != result.limit_tripped  # its plan waits for an approval
        render_breaker_help(console, config, tripped, result.run_id if recorded else None)
    for error in result.errors:
        console.print(f"[red]error:[/] {secrets.scrub(error)}")
    if result.deleted and not result.dry_run:
        console.print(
            f"\n⚠️  {result.deleted} items were deleted. Audit trail: "
            f"lethe runs show {result.run_id}"
        )
    took = duration(result.completed_at - result.started_at)
    console.print(f"\nlethe {kind} {result.status.value} at {stamp(result.completed_at)} ({took})")


_TRIPPED = re.compile(r"policy (\S+): would remove")


def render_breaker_help(
    console: Console, config: LetheConfig | None, tripped: str, approval: str | None = None
) -> None:
    """How to go on after the circuit breaker refused: approve the refused run's recorded
    plan (``approval``: its run id, when one was recorded), or which keys to raise and how to
    take exactly the reviewed keys (a plan file is bound to the file it was made with, so the
    limits are raised first), how to look at other instants."""
    policies = list(dict.fromkeys(_TRIPPED.findall(tripped)))
    keys = [
        f"policies.{p}.limits.breaker"
        if config and p in config.policies and config.policies[p].limits.breaker
        else "limits.breaker"
        for p in policies
    ] or ["limits.breaker"]
    limits = (
        "first_run_max_rows" if "first_run_max_rows" in tripped else "max_rows, {k}.max_percent"
    )
    raise_keys = " / ".join(dict.fromkeys(f"{k}.{limits.format(k=k)}" for k in keys))
    lines = ["To go on, if these removals are intended:"]
    if approval:
        lines += [
            f"  lethe approve {approval} --by NAME --reason TEXT, then lethe run --approved "
            f"{approval}: exactly this refused plan, once (see lethe approvals); or",
        ]
    lines += [
        f"  1. raise {raise_keys} in the policy file, or set limits.max_deletions to take "
        "the backlog in slices over several runs",
        f"  2. lethe plan {' '.join(policies)} --out plan.json -v: review exactly what would "
        "go (reads only)",
        "  3. lethe run --plan plan.json: deletes exactly the reviewed keys, nothing that "
        "became due since",
        "  (lethe plan --as-of TIMESTAMP previews the removals at another instant.)",
    ]
    for line in lines:
        console.print(line, markup=False)


def render_check(console: Console, report: CheckReport) -> None:
    """One line per finding, with the fix to run under it."""
    marks = {"ok": "[green]✓[/]", "warning": "[yellow]![/]", "error": "[red]✗[/]"}
    for finding in report.findings:
        where = "" if finding.dataset == "-" else f"{finding.dataset}: "
        console.print(f"{marks[finding.level]} {escape(where + finding.message)}")
        if finding.fix:
            console.print(f"    fix: {finding.fix}", markup=False)
    errors = sum(1 for f in report.findings if f.level == "error")
    counts = f"{plural(errors, 'error')}, {plural(len(report.warnings), 'warning')}"
    console.print(f"\n{'OK' if report.ok else 'FAILED'}: {counts}")


def render_explain(console: Console, exp: Explanation) -> None:
    """Which phases would take the item, when, and what stops them."""
    console.print(f"{exp.dataset} {exp.key}")
    if not exp.exists:
        console.print("  not found in the store (deleted, or never existed)")
    for field_name, value in sorted(exp.row.items()):
        shown = stamp(value) if isinstance(value, datetime) else str(value)
        console.print(f"  {field_name} = {shown}", markup=False)
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
            label = "" if v.waits_for.startswith("blocked by") else "waits: "
            console.print(f"      {label}{v.waits_for}", markup=False)
        if v.partition:
            console.print(f"      goes with partition {v.partition}, dropped whole", markup=False)
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
        error = event["details"].get("error") if event["event"] == "skipped_error" else None
        console.print(
            f"  history: {stamp(event['ts'])} {event['event']}"
            f"{f' {detail} notice' if detail else ''} (run {event['run_id']})"
            f"{f': {error}' if error else ''}",
            markup=False,
        )


def render_holds(console: Console, holds: list[Hold]) -> None:
    """The hold registry."""
    rows = [
        [
            str(hold.id),
            hold.dataset,
            escape(hold.item_key),
            escape(hold.reason),
            escape(hold.placed_by),
            stamp(hold.placed_at),
            f"{stamp(hold.released_at)} by {escape(hold.released_by or '?')}"
            if hold.released_at
            else "[red]active[/]",
        ]
        for hold in holds
    ]
    headers = ("id", "dataset", "key", "reason", "placed by", "placed at", "released")
    print_table(console, headers, rows)
