"""``lethe evidence``: documents for auditors (certificates, receipts) and their offline check."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lethe.cli.context import parse_instant, state
from lethe.errors import ConfigError, ExitCode, NotFoundError
from lethe.evidence import (
    certificate_pdf,
    kinds,  # noqa: F401  (registers every kind's checks)
)
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
    A PDF certificate (`lethe evidence run --format pdf`) is checked by the signed JSON
    certificate embedded in it, exactly as that JSON file would be: the verdict covers the
    embedded document, the visible pages are only a rendering of it. A PDF that embeds no
    document or more than one, or that cannot be read, fails on one line.
    Exit 4 when any check fails. Needs no policy file, database or network."""
    cli = state(ctx)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{file}: cannot read: {exc.strerror or type(exc).__name__}") from None
    embedded: str | None = None
    if certificate_pdf.is_pdf(data):
        embedded, data = certificate_pdf.embedded_document(data, str(file))
    verdict = verify_document(data, trusted_keys=tuple(key or ()))
    covers = (
        f" (this verdict covers the embedded {embedded}; the pages are a rendering of it)"
        if embedded
        else ""
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "document": verdict.kind,
                    "signed": verdict.signed,
                    "key_id": verdict.key_id,
                    "embedded": embedded,
                    "problems": verdict.problems,
                },
                indent=1,
            )
        )
    elif verdict.ok:
        signed = f"signed by key {verdict.key_id}" if verdict.signed else "[yellow]unsigned[/]"
        cli.console.print(f"{file}: {verdict.kind} verifies, {signed}{covers}", highlight=False)
    else:
        if embedded:
            cli.console.print(f"{file}: checked the embedded {embedded}", highlight=False)
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


class Format(StrEnum):
    """What ``lethe evidence run`` writes."""

    json = "json"
    pdf = "pdf"


@evidence_app.command("run")
def evidence_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of it.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the certificate to this file instead of standard output "
            "(required with --format pdf).",
        ),
    ] = None,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="json: the signed certificate. pdf: a readable certificate (NIST SP 800-88 "
            "style) with that exact JSON embedded as a file attachment, which `lethe evidence "
            "verify FILE.pdf` checks.",
        ),
    ] = Format.json,
) -> None:
    """A deletion certificate for one run (lethe.certificate): organisation and system, the
    policies and their fingerprint, data categories, stores (never credentials), method per
    store and phase, tool and version, start and end, counts per table and action, holds,
    errors, and the verification at issue: the audit chain recomputed, the run's head entry
    and its signature, and the items overdue under the run's policies (as `lethe attest`).
    A dry run's certificate says nothing was deleted. Signed with the
    evidence.signing_key_file (or _env) key when one is set; exit 6 for a run that does not
    exist, 2 for --format pdf without --out."""
    from lethe.evidence.certificate import KIND, certificate_body

    cli = state(ctx)
    if fmt is Format.pdf and out is None:
        raise ConfigError("--format pdf needs --out FILE (a PDF is not written to a terminal)")
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
    if fmt is Format.pdf:
        _write(out, certificate_pdf.render_certificate(issue_document(lethe, KIND, body)))
        name = certificate_pdf.attachment_name(body["run_id"])
        cli.console.print(
            f"{out}: PDF certificate for run {body['run_id']} ({body['status']}), "
            f"the signed certificate embedded as {name}",
            highlight=False,
        )
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
        _write(out, data)
    return data


def _write(out: Path, data: bytes) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot write: {exc.strerror or type(exc).__name__}"
        ) from None


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.add_typer(evidence_app, name="evidence")
