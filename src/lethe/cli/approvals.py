"""``lethe approve`` and ``lethe approvals``: the plans of runs the circuit breaker refused."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.model.text import stamp

__all__ = ["register"]


def approve(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The refused run (see `lethe approvals`).")],
    by: Annotated[str, typer.Option("--by", help="Who approves (recorded in the audit).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit).")],
) -> None:
    """Approve the exact plan of a run the circuit breaker refused; then carry it out with
    `lethe run --approved RUN_ID`.

    The plan's items are checked first: if any stopped being due or is held now, the
    approval is refused (exit 13) naming them, and a new run records a fresh plan. The
    approval is audited (approval_granted: --by, --reason, via cli, the OS user). Exit 6 for
    an unknown run, 2 when it is not pending (already approved, used, or older than
    evidence.approval_window, 7 days by default). Over HTTP: POST /approvals/RUN_ID.
    """
    cli = state(ctx)
    approval = cli.lethe().approve(run_id, by, reason, via="cli", identity=_os_user())
    cli.console.print(
        f"Approved run {approval.run_id}'s plan {approval.plan_hash[:12]} by {by}; "
        f"carry it out with: lethe run --approved {approval.run_id}",
        markup=False,
    )


def approvals(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the plans of refused runs: pending, approved, used or expired (older than
    evidence.approval_window, 7 days by default). Over HTTP: GET /approvals."""
    cli = state(ctx)
    lethe = cli.lethe()
    now, window = lethe.runtime.state.now(), lethe.approval_window
    found = lethe.approvals()
    if as_json:
        typer.echo(json.dumps([a.to_document(now, window) for a in found], indent=1))
        return
    for a in found:
        items = sum(int(c.get("items", 0)) for c in a.counts.values())
        who = f" by {a.approved_by}" if a.approved_by else ""
        cli.console.print(
            f"{a.run_id}  {a.shown_status(now, window).value}{who}  "
            f"{', '.join(a.policies)}  {items} items  plan {a.plan_hash[:12]}  "
            f"{stamp(a.created_at)}",
            markup=False,
        )
    if not found:
        cli.console.print("No approvals: no real run was refused by the circuit breaker.")


def _os_user() -> str | None:
    """Who runs the command, for the audit (None where the OS cannot say, e.g. no passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(approve)
    app.command()(approvals)
