"""``lethe evidence``: documents for auditors (certificates, receipts) and their offline check."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lethe.cli.context import parse_instant, state
from lethe.errors import ConfigError, ExitCode, NotFoundError
from lethe.evidence import kinds  # noqa: F401  (registers every kind's checks)
from lethe.evidence.documents import issue, verify_document

if TYPE_CHECKING:
    from lethe.api import Lethe

__all__ = ["evidence_app", "issue_document", "register"]

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


@evidence_app.command("item")
def evidence_item(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset name from the policy file.")],
    key: Annotated[
        str,
        typer.Argument(help="The item's key (primary-key value; a composite one as [3,17])."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the receipt to this file instead of standard output."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIMESTAMP",
            help="For an item not deleted yet: evaluate when it will go at this instant "
            "(ISO 8601, UTC if no offset) instead of now.",
        ),
    ] = None,
) -> None:
    """A receipt for one item: when it and its cascaded rows and files were deleted, by which
    run and policy version, with each audit event's inclusion proof (canonical text, leaf hash,
    Merkle audit path, ledger entry and its signature), which `lethe evidence verify` checks
    without the rest of the ledger. For an item still there: when it will go and what blocks
    it (as `lethe explain`). Signed with the evidence.signing_key_file (or _env) key when one is
    set. Exit 6 for an item lethe has never seen."""
    from lethe.evidence.receipt import KIND, receipt_body

    cli = state(ctx)
    lethe = cli.lethe()
    body = receipt_body(lethe.runtime, dataset, key, parse_instant(as_of))
    if out is None:
        typer.echo(issue_document(lethe, KIND, body).decode("ascii"), nl=False)
        return
    issue_document(lethe, KIND, body, out)
    cli.console.print(f"{out}: receipt for {dataset} {body['key']} ({body['status']})")


@evidence_app.command("run")
def evidence_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of it.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the certificate to this file instead of standard output."
        ),
    ] = None,
) -> None:
    """A deletion certificate for one run (lethe.certificate): organisation and system, the
    policies and their fingerprint, stores (never credentials), method per phase, tool and
    version, start and end, counts per table and action, holds, errors, and the audit chain
    verified at issue with the run's head entry. A dry run's certificate says nothing was
    deleted. Signed with the evidence.signing_key_file (or _env) key when one is set; exit 6
    for a run that does not exist."""
    from lethe.evidence.certificate import KIND, certificate_body

    cli = state(ctx)
    lethe = cli.lethe()
    record = lethe.run_record(run_id)
    if record.get("status") == "running":
        raise NotFoundError(
            f"run {record['runId']} is still running: no certificate before it ends"
        )
    body = certificate_body(lethe.runtime, record)
    if out is None:
        typer.echo(issue_document(lethe, KIND, body).decode("ascii"), nl=False)
        return
    issue_document(lethe, KIND, body, out)
    cli.console.print(f"{out}: certificate for run {body['run_id']} ({body['status']})")


def issue_document(
    lethe: Lethe, kind: str, body: Mapping[str, Any], out: Path | None = None
) -> bytes:
    """``body`` issued as a ``kind`` document, signed by the runtime's key when it has one, and
    written to ``out`` when given (one line, exit 2, when it cannot be)."""
    data = issue(kind, body, lethe.runtime.state.signer, now=lethe.runtime.state.now())
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise ConfigError(
                f"--out {out}: cannot write: {exc.strerror or type(exc).__name__}"
            ) from None
    return data


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.add_typer(evidence_app, name="evidence")
