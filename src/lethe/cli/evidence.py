"""``lethe evidence``: documents for auditors (certificates, receipts) and their offline check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.errors import ExitCode, NotFoundError
from lethe.evidence import kinds  # noqa: F401  (registers every kind's checks)
from lethe.evidence.documents import verify_document

__all__ = ["evidence_app", "register"]

evidence_app = typer.Typer(
    help="Signed evidence for auditors: per-run deletion certificates, per-item receipts, and "
    "their offline verification (docs/evidence.md).",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@evidence_app.command("verify")
def evidence_verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A document lethe issued (certificate, receipt…).")],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="PUBLIC_KEY",
            help="Require a signature by this key (base64, as `lethe audit key` prints it); "
            "repeat for several. Without it any valid signature passes, and an unsigned "
            "document passes its other checks.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check a document offline: its exact bytes, its signature and what it asserts.
    Exit 4 when any check fails. Needs no policy file, database or network."""
    cli = state(ctx)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{file}: cannot read: {exc.strerror or type(exc).__name__}") from None
    verdict = verify_document(data, trusted_keys=tuple(key or ()))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "document": verdict.kind,
                    "signed": verdict.signed,
                    "key_id": verdict.key_id,
                    "problems": verdict.problems,
                },
                indent=1,
            )
        )
    elif verdict.ok:
        signed = f"signed by key {verdict.key_id}" if verdict.signed else "[yellow]unsigned[/]"
        cli.console.print(f"{file}: {verdict.kind} verifies, {signed}")
    else:
        for problem in verdict.problems:
            cli.console.print(f"[red]✗[/] {file}: {problem}")
    if not verdict.ok:
        raise typer.Exit(int(ExitCode.AUDIT_BROKEN))


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.add_typer(evidence_app, name="evidence")
