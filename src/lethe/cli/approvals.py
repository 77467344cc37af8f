"""``lethe approve`` and ``lethe approvals``: the plans of runs the circuit breaker refused."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.model.text import stamp
from lethe.state.approvals import APPROVAL_WINDOW

__all__ = ["register"]


def approve(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The refused run (see `lethe approvals`).")],
    by: Annotated[str, typer.Option("--by", help="Who approves (recorded in the audit).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit).")],
) -> None:
    """Approve the exact plan of a run the circuit breaker refused; then carry it out with
    `lethe run --approved RUN_ID`. Exit 6 for an unknown run, 2 when it is not pending."""
    cli = state(ctx)
    approval = cli.lethe().runtime.approvals.approve(run_id, by, reason, APPROVAL_WINDOW)
    cli.console.print(
        f"Approved run {approval.run_id}'s plan {approval.plan_hash[:12]} by {by}; "
        f"carry it out with: lethe run --approved {approval.run_id}",
        markup=False,
    )


def approvals(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the plans of refused runs: pending, approved, used or expired (after 7 days)."""
    cli = state(ctx)
    runtime = cli.lethe().runtime
    now = runtime.state.now()
    found = runtime.approvals.list()
    if as_json:
        typer.echo(json.dumps([a.to_document(now, APPROVAL_WINDOW) for a in found], indent=1))
        return
    for a in found:
        items = sum(int(c.get("items", 0)) for c in a.counts.values())
        who = f" by {a.approved_by}" if a.approved_by else ""
        cli.console.print(
            f"{a.run_id}  {a.shown_status(now, APPROVAL_WINDOW).value}{who}  "
            f"{', '.join(a.policies)}  {items} items  plan {a.plan_hash[:12]}  "
            f"{stamp(a.created_at)}",
            markup=False,
        )
    if not found:
        cli.console.print("No approvals: no real run was refused by the circuit breaker.")


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(approve)
    app.command()(approvals)
