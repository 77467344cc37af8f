"""Commands about lethe's own records: holds, runs, the audit chain, the schema, the demo."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.cli.render import render_holds
from lethe.cli.render_runs import render_run, render_runs
from lethe.config.schema import json_schema
from lethe.errors import ConfigError, ExitCode
from lethe.evidence.signing import key_id, write_new_key

__all__ = ["register"]

hold_app = typer.Typer(
    help="lethe's own legal holds: held items are never changed or deleted.", no_args_is_help=True
)
runs_app = typer.Typer(help="Recorded runs (real and dry).", invoke_without_command=True)
audit_app = typer.Typer(help="The hash-chained audit ledger.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@hold_app.command("add")
def hold_add(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    key: Annotated[
        str,
        typer.Argument(
            help="The item's key (a composite key as a JSON array, e.g. '[3,17]'); ending "
            "in * it holds every key with that prefix (text keys only: object paths, Redis "
            "keys, text columns)."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who places it (default: your user name).")
    ] = None,
) -> None:
    """Place a hold on one item."""
    cli = state(ctx)
    hold = cli.lethe().place_hold(dataset, key, reason, by or getpass.getuser())
    cli.console.print(f"Hold #{hold.id} placed on {dataset} {hold.item_key}.")


@hold_app.command("release")
def hold_release(
    ctx: typer.Context,
    hold_id: Annotated[int, typer.Argument(help="Hold id (see `lethe hold list`).")],
    by: Annotated[str | None, typer.Option("--by", help="Who releases it.")] = None,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why.")] = "",
) -> None:
    """Release a hold; it stays in the history."""
    cli = state(ctx)
    hold = cli.lethe().holds.release(hold_id, by or getpass.getuser(), reason)
    cli.console.print(f"Hold #{hold.id} on {hold.dataset} {hold.item_key} released.")


@hold_app.command("list")
def hold_list(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    include_released: Annotated[
        bool, typer.Option("--all", help="Include released holds.")
    ] = False,
    as_json: Json = False,
) -> None:
    """List holds (active ones unless --all)."""
    cli = state(ctx)
    holds = cli.lethe().holds.list(dataset, include_released=include_released)
    if as_json:
        typer.echo(json.dumps([h.to_document() for h in holds], indent=1))
    else:
        render_holds(cli.console, holds)


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    last: Annotated[int, typer.Option("--last", "-n", help="How many runs.")] = 20,
    as_json: Json = False,
) -> None:
    """List recent runs, newest first (`lethe runs show RUN_ID` for one)."""
    if ctx.invoked_subcommand is not None:
        return
    cli = state(ctx)
    rows = cli.lethe().runs(last)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
    else:
        render_runs(cli.console, rows)


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of it.")],
    as_json: Json = False,
) -> None:
    """One run: how it ended, rows per table and action, each phase, errors, duration and
    the audit chain head (--json: the full record)."""
    cli = state(ctx)
    record = cli.lethe().run_record(run_id)
    if as_json:
        typer.echo(json.dumps(record, indent=1))
    else:
        render_run(cli.console, record)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="PUBLIC_KEY",
            help="Trust signatures by this key only (base64, as `lethe audit key` prints it); "
            "repeat for several. Default: the configured \\[evidence] key; with none, every key "
            "the ledger recorded.",
        ),
    ] = None,
    no_anchors: Annotated[
        bool,
        typer.Option(
            "--no-anchors",
            help="Do not read the anchors (\\[\\[evidence.anchors]]; offline, or many runs "
            "in a bucket): check the chain and signatures only.",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Recompute the hash chain, check every entry's signature and compare every run's head
    with each configured anchor; exit 4 if any record was edited, removed or inserted, a
    signature fails or is missing after signing began, an entry is signed by a key not
    trusted, or a run head is missing from an anchor, differs from it, or is anchored but
    gone from the ledger (rewritten or rolled back). Each problem names its entry, batch or
    run."""
    cli = state(ctx)
    report = cli.lethe().verify_audit(tuple(key or ()), anchors=not no_anchors)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "events": report.events,
                    "head": report.head,
                    "problems": list(report.problems),
                    "anchors": list(report.notes),
                },
                indent=1,
            )
        )
    elif report.ok:
        cli.console.print(f"Audit chain verifies: {report.events} events, head {report.head}")
        for note in report.notes:
            cli.console.print(f"[green]✓[/] {note}", markup=True, highlight=False)
    else:
        for problem in report.problems:
            cli.console.print(f"[red]✗[/] {problem}")
    if not report.ok:
        raise typer.Exit(int(ExitCode.AUDIT_BROKEN))


@audit_app.command("events")
def audit_events(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Only events of this dataset.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", "-k", help="Only events of this item key (as `explain` shows it)."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Only events of this run id ('-': holds).")
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            "--action",
            "-e",
            help="Only this event kind (hard_deleted, soft_deleted, warned, skipped_hold, "
            "hold_placed, run_finished, …); repeat for several.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Appended at this ISO 8601 time or later (UTC if no offset)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Appended before this ISO 8601 time.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table (for reading), jsonl (one JSON object a line) or csv (with a header); "
            "all three stream, so millions of events export in constant memory.",
        ),
    ] = "table",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="At most this many (oldest first).")
    ] = None,
) -> None:
    """Export audit events, oldest first, filtered by the database.

    Each record carries schema_version (docs/evidence.md "Audit export" describes every
    field and what `details` holds per event). Examples:

      lethe audit events --dataset surveys --event hard_deleted --since 2026-01-01 -f csv

      lethe audit events --run run-20261203T084833Z-b756a1 -f jsonl > run.jsonl"""
    from lethe.errors import ConfigError
    from lethe.evidence.export import FORMATS, export, parse_filter, records

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    lethe = state(ctx).lethe()
    ledger = lethe.runtime.ledger
    where = parse_filter(
        ledger,
        lethe.settings.config.datasets,
        dataset=dataset,
        item_key=key,
        run_id=run_id,
        kinds=kinds or (),
        since=since,
        until=until,
        limit=limit,
    )
    export(records(ledger, where), fmt, sys.stdout)


def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of lethe.toml, for editors."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", help="Where to create the demo.")
    ] = Path("lethe-demo"),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Use a folder that already holds lethe.toml, app.db or .lethe/: they are "
            "moved into a backup folder inside it first, never deleted.",
        ),
    ] = False,
) -> None:
    """Create a small survey-platform database and policy, show the plan, run it.

    A folder that already holds any of the demo's files is refused unless --force."""
    from lethe.demo.run import run_demo

    run_demo(directory, state(ctx).console, force=force)


@audit_app.command("key")
def audit_key(
    ctx: typer.Context,
    new: Annotated[
        Path | None,
        typer.Option(
            "--new",
            metavar="FILE",
            help="Write a new Ed25519 private key (PEM, mode 0600; never overwrites) to FILE "
            "and print its public key; then name FILE in [evidence] signing_key_file.",
        ),
    ] = None,
) -> None:
    """Print the public key (base64) and key id of the configured [evidence] signing key,
    which signs every audit ledger entry: give it to whoever verifies (`lethe audit verify
    --key`, `lethe evidence verify --key`). Exit 2 when no key is configured."""
    if new is not None:
        public = write_new_key(new)
    else:
        signer = state(ctx).lethe().runtime.state.signer
        if signer is None:
            raise ConfigError(
                "no signing key configured: set [evidence] signing_key_file or signing_key_env "
                "(`lethe audit key --new FILE` writes one)",
                "evidence",
            )
        public = signer.public_key
    typer.echo(f"public_key {public}")
    typer.echo(f"key_id {key_id(public)}")


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.add_typer(hold_app, name="hold")
    app.add_typer(runs_app, name="runs")
    app.add_typer(audit_app, name="audit")
    app.command()(schema)
    app.command()(demo)
