"""``lethe attest``: items kept past their due date, counted (and signed for the review)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lethe.cli.context import parse_instant, state
from lethe.cli.evidence import issue_document
from lethe.config.durations import Duration, parse_duration
from lethe.errors import ConfigError, ExitCode
from lethe.evidence.attest import KIND

__all__ = ["register"]


def attest(
    ctx: typer.Context,
    policies: Annotated[
        list[str] | None, typer.Argument(help="Policies to attest (default: every enabled one).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", metavar="T", help="Attest at this instant (ISO 8601).")
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance",
            metavar="D",
            help="How long an item may stay due before it is overdue (e.g. 2d). Default: "
            "evidence.overdue_tolerance, else twice the policy's job interval, else 1d.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Also write the attestation as a signed document (lethe evidence verify).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Count, per destructive phase, the items due and not held for longer than the tolerance:
    the "nothing due is kept" promise measured. Exit 12 when any item is overdue. Reads only.

    A phase with overdue items also shows when its oldest became due and its first five keys
    (key order): the same in --json and the signed --out document (sample_keys,
    oldest_due_since)."""
    cli = state(ctx)
    try:
        allowed = parse_duration(tolerance) if tolerance is not None else None
    except ValueError as exc:
        raise ConfigError(str(exc), "--tolerance") from None
    lethe = cli.lethe()
    report = lethe.attest(policies, as_of=parse_instant(as_of), tolerance=allowed)
    if out is not None:
        issue_document(lethe, KIND, report.body(), out)
    if as_json:
        typer.echo(json.dumps(report.body(), indent=1))
    else:
        for phase in report.phases:
            mark = "[red]✗[/]" if phase.overdue else "[green]✓[/]"
            cli.console.print(
                f"{mark} {phase.policy} phase {phase.phase} ({phase.action}, {phase.dataset}): "
                f"{phase.overdue} overdue (due for more than {phase.tolerance}), {phase.held} held"
            )
            if phase.due_since is not None:
                age = Duration(seconds=int((report.as_of - phase.due_since).total_seconds()))
                cli.console.print(
                    f"    oldest due since {phase.due_since.isoformat(timespec='seconds')} "
                    f"({age} before {report.as_of.isoformat(timespec='seconds')})",
                    markup=False,
                )
            if phase.sample_keys:
                more = ", …" if phase.overdue > len(phase.sample_keys) else ""
                cli.console.print(
                    f"    e.g. {', '.join(phase.sample_keys)}{more}", markup=False, highlight=False
                )
        cli.console.print(f"{report.overdue} overdue" if report.overdue else "nothing overdue")
    if not report.ok:
        raise typer.Exit(int(ExitCode.OVERDUE))


def register(app: typer.Typer) -> None:
    """Add ``lethe attest`` to ``app``."""
    app.command("attest")(attest)
