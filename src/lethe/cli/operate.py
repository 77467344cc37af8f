"""Commands that look at and act on data: check, plan, run, explain."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from lethe.cli.context import CliState, parse_instant, state
from lethe.cli.formats import json_value
from lethe.cli.render import render_check, render_explain, render_plan, render_result
from lethe.cli.render_preview import render_preview
from lethe.cli.signals import stop_on_signals
from lethe.engine.executor import BatchReport, ProgressFn
from lethe.engine.stop import StopFlag
from lethe.errors import ConfigError, ExitCode, SafetyLimitError
from lethe.model.plan import Plan
from lethe.model.results import RunStatus

__all__ = ["register"]

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Evaluate at this instant instead of now (ISO 8601, UTC if no "
        "offset), to preview or test.",
        metavar="TIMESTAMP",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON document instead of text.")]
Policies = Annotated[
    list[str] | None, typer.Argument(help="Policies to use (default: every enabled policy).")
]


def check(
    ctx: typer.Context,
    grants: Annotated[
        bool,
        typer.Option("--grants", help="Print the least-privilege statements the policies need."),
    ] = False,
    role: Annotated[str, typer.Option(help="Role name used in --grants output.")] = "lethe",
    as_json: Json = False,
) -> None:
    """Validate the policy file, then the live stores: tables, columns, keys, indexes."""
    cli = state(ctx)
    lethe = cli.lethe()
    if grants:
        statements = lethe.grants(role)
        if as_json:
            typer.echo(json.dumps(statements, indent=2))
            return
        for store, lines in statements.items():
            cli.console.print(f"-- store {store}")
            for line in lines:
                cli.console.print(line, markup=False)
        return
    report = lethe.check()
    if as_json:
        typer.echo(json.dumps([f.__dict__ for f in report.findings], indent=2))
    else:
        render_check(cli.console, report)
    if report.exit_code is not ExitCode.OK:
        raise typer.Exit(int(report.exit_code))


def plan(
    ctx: typer.Context,
    policies: Policies = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the exact plan (keys and hash) to this file, for `lethe run --plan`.",
            metavar="FILE",
        ),
    ] = None,
    as_of: AsOf = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every key.")] = False,
    as_json: Json = False,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="OLD",
            help="Preview a policy change instead: judge every item under this file and under "
            "OLD (a policy file, or a git revision of this one such as HEAD~1 or main) and list "
            "what becomes due, stops being due or changes phase, now and on each of the next "
            "--days days.",
        ),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            "--days", help="With --against: how many days after the plan instant to compare."
        ),
    ] = 30,
    samples: Annotated[
        int,
        typer.Option("--samples", help="With --against: sample keys shown per kind of change."),
    ] = 5,
) -> None:
    """Show exactly what a run would do now, using reads only.

    With --against OLD, show instead what the policy file changes compared with OLD, item by
    item, before the change ships.
    """
    cli = state(ctx)
    if against is not None:
        _preview(cli, against, policies, out, as_of, days, samples, as_json)
        return
    result = cli.lethe().plan(policies, as_of=parse_instant(as_of))
    if out is not None:
        cli.lethe().write_plan(result, out)
    if as_json:
        typer.echo(json.dumps(result.to_document(), indent=1))
    else:
        render_plan(cli.console, result, verbose=verbose, config=cli.lethe().settings.config)
        if out is not None:
            cli.console.print(f"\nPlan written to {out}; run it with: lethe run --plan {out}")


def _preview(
    cli: CliState,
    against: str,
    policies: list[str] | None,
    out: Path | None,
    as_of: str | None,
    days: int,
    samples: int,
    as_json: bool,
) -> None:
    if policies:
        raise ConfigError("compares every enabled policy; name no policies with it", "--against")
    if out is not None:
        raise ConfigError("writes no plan file; leave out --out", "--against")
    preview = cli.lethe().preview_change(
        against, as_of=parse_instant(as_of), days=days, samples=samples
    )
    if as_json:
        typer.echo(json.dumps(preview.to_document(), indent=1))
    else:
        render_preview(cli.console, preview)


def _progress_reporter(
    console: Console, verbose: bool
) -> tuple[ProgressFn | None, Progress | None]:
    if verbose:

        def report(batch: BatchReport) -> None:
            cascade = ", ".join(f"{t} {n}" for t, n in sorted(batch.cascade.items()) if n)
            console.print(
                f"  batch {batch.batch_id}: {batch.policy} [{batch.phase}] "
                f"{batch.label} {batch.acted}, held {batch.held}"
                f"{f', cascaded {cascade}' if cascade else ''} ({batch.seconds:.3f} s)"
            )

        return report, None
    if not console.is_terminal:
        return None, None
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[tuple[str, int], tuple[TaskID, int]] = {}

    def advance(batch: BatchReport) -> None:
        key = (batch.policy, batch.phase)
        done = tasks[key][1] + batch.acted if key in tasks else batch.acted
        description = f"{batch.policy} [{batch.phase}] {batch.label}: {done}"
        task = tasks[key][0] if key in tasks else bar.add_task(description)
        bar.update(task, description=description)
        tasks[key] = (task, done)

    return advance, bar


def run(
    ctx: typer.Context,
    policies: Policies = None,
    dry_run: Annotated[
        bool | None,
        typer.Option(
            "--dry-run/--no-dry-run",
            "-n",
            help="Show what would happen; change nothing (the dry run is still recorded). "
            "Default: the policy file's run.dry_run (false unless it says so).",
            show_default=False,
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="Act only on the items of a "
            "plan file that are still due and not held; report the drift.",
        ),
    ] = None,
    approved: Annotated[
        str | None,
        typer.Option(
            "--approved",
            metavar="RUN_ID",
            help="Carry out the approved plan of a run the circuit breaker refused (see "
            "`lethe approvals`): exactly its keys still due and not held; used once.",
        ),
    ] = None,
    as_of: AsOf = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Per-batch detail (and the keys, in a dry run).")
    ] = False,
    as_json: Json = False,
) -> None:
    """Run the policies in short batches, with an audit trail."""
    cli = state(ctx)
    lethe = cli.lethe()
    planned: Plan | None = lethe.read_plan(plan_file) if plan_file else None
    if dry_run is None and lethe.settings.config.run.dry_run:
        dry_run = True
        notice = "Dry run: the policy file sets run.dry_run; pass --no-dry-run to change data."
        typer.echo(notice, err=as_json)
        if not as_json:
            typer.echo()
    report, bar = (None, None) if as_json else _progress_reporter(cli.console, verbose)
    stop = StopFlag()  # SIGTERM: finish the batch in flight, record the run interrupted
    try:
        with bar or nullcontext(), stop_on_signals(stop.set):
            result = lethe.run(
                policies,
                dry_run=dry_run,
                as_of=parse_instant(as_of),
                plan=planned,
                progress=report,
                stop=stop,
                approved=approved,
            )
    except SafetyLimitError as exc:
        if exc.result is None:
            raise
        result = exc.result
    if as_json:
        typer.echo(json.dumps(result.to_document(), indent=1))
    else:
        render_result(cli.console, result, verbose=verbose, config=lethe.settings.config)
    if result.status is RunStatus.TRIPPED:
        raise typer.Exit(int(ExitCode.SAFETY_LIMIT))
    if result.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(int(ExitCode.FINISHED_WITH_ERRORS))


def explain(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset name from the policy file.")],
    key: Annotated[
        str,
        typer.Argument(help="The item's key (primary-key value; a composite one as [3,17])."),
    ],
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """When will this item go, by which policy, and what blocks it."""
    cli = state(ctx)
    result = cli.lethe().explain(dataset, key, as_of=parse_instant(as_of))
    if as_json:
        typer.echo(json.dumps(result, default=json_value, indent=1))
    else:
        render_explain(cli.console, result)
    if not result.exists:  # what lethe knows (its audit history) is shown all the same
        raise typer.Exit(int(ExitCode.NOT_FOUND))


def health(
    ctx: typer.Context,
    policies: Policies = None,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """Exit 0 when every policy is healthy, 7 otherwise.

    Healthy: a successful run within health.window, and at most health.max_errors errors in
    its last run."""
    cli = state(ctx)
    report = cli.lethe().health(policies, as_of=parse_instant(as_of))
    if as_json:
        typer.echo(json.dumps(report.to_document(), indent=1))
    else:
        for verdict in report.policies:
            mark = "[green]✓[/]" if verdict.healthy else "[red]✗[/]"
            detail = "; ".join(verdict.problems) or f"last success {verdict.last_success}"
            cli.console.print(f"{mark} {verdict.policy}: {detail}")
        cli.console.print("healthy" if report.healthy else "unhealthy")
    if not report.healthy:
        raise typer.Exit(int(ExitCode.UNHEALTHY))


def orphans(
    ctx: typer.Context,
    policies: Policies = None,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            help='Delete due, unheld orphan items of datasets that say orphans = "delete".',
        ),
    ] = False,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """Report rows whose linked blob or key is gone, and blobs or keys no row points to."""
    cli = state(ctx)
    reports = cli.lethe().orphans(policies, delete=delete, as_of=parse_instant(as_of))
    if as_json:
        typer.echo(json.dumps([r.to_document() for r in reports], indent=1))
        return
    for r in reports:
        cli.console.print(f"--- {r.policy}: {r.dataset} → {r.linked} ---")
        rows = ", ".join(r.row_examples)
        items = ", ".join(r.item_examples)
        cli.console.print(f"Rows whose {r.linked} item is gone: {r.rows_without_item} {rows}")
        cli.console.print(f"{r.linked} items no row points to: {r.items_without_row} {items}")
        if delete:
            cli.console.print(f"Orphans deleted: {r.deleted}, failed: {r.failed}")
    if not reports:
        cli.console.print("No policy's dataset has links.")


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    for command in (check, plan, run, explain, health, orphans):
        app.command()(command)
