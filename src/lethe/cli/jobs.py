"""Commands for jobs on a schedule: the daemon, the tick, the HTTP service, and ``jobs``."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from typing import Annotated

import typer

from lethe.cli.context import CliState, state
from lethe.cli.render_jobs import render_claim, render_jobs
from lethe.cli.signals import stop_on_signals
from lethe.config.jobs import job_warnings
from lethe.errors import ExitCode
from lethe.jobs.claims import Claim
from lethe.jobs.runner import JobRun, JobService
from lethe.jobs.scheduler import Scheduler
from lethe.jobs.status import job_statuses
from lethe.schedule.decide import SlotStatus

__all__ = ["register"]

jobs_app = typer.Typer(help="Jobs: policies run on a schedule.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _service(cli: CliState) -> JobService:
    settings = cli.lethe().settings
    for warning in job_warnings(settings.config.jobs, settings.source):
        print(f"lethe: warning: {warning}", file=sys.stderr)
    return JobService(settings)


def _finish(cli: CliState, claim: Claim, runs: list[JobRun], as_json: bool) -> bool:
    """Print one trigger's outcome; return whether every run it made succeeded."""
    if as_json:
        document = claim.to_document()
        document["runs"] = [
            {
                "slot": r.slot.isoformat(),
                "runId": r.run_id,
                "status": r.status.value,
                "note": r.note,
            }
            for r in runs
        ]
        typer.echo(json.dumps(document))
    else:
        render_claim(cli.console, claim, runs)
    return all(r.status is SlotStatus.SUCCEEDED and r.recorded for r in runs)


@jobs_app.command("list")
def jobs_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Each job: next slots (its zone and UTC), last run, last success, missed slots."""
    cli = state(ctx)
    service = _service(cli)
    try:
        statuses = job_statuses(service.config.jobs, service.ledger, service.clock.now())
    finally:
        service.close()
    if as_json:
        typer.echo(json.dumps([s.to_document() for s in statuses], indent=1))
    else:
        render_jobs(cli.console, statuses)


@jobs_app.command("pause")
def jobs_pause(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: your user name).")] = None,
) -> None:
    """Pause a job for every runner sharing the state database; due slots are skipped."""
    cli = state(ctx)
    service = _service(cli)
    try:
        service.set_paused(name, True, by or getpass.getuser())
    finally:
        service.close()
    cli.console.print(f"Job {name} paused.")


@jobs_app.command("resume")
def jobs_resume(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    by: Annotated[str | None, typer.Option("--by", help="Who (default: your user name).")] = None,
) -> None:
    """Resume a job; the slots that came due while it was paused are not caught up."""
    cli = state(ctx)
    service = _service(cli)
    try:
        service.set_paused(name, False, by or getpass.getuser())
    finally:
        service.close()
    cli.console.print(f"Job {name} resumed.")


@jobs_app.command("trigger")
def jobs_trigger(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    as_json: Json = False,
) -> None:
    """Run a job now, outside its schedule (once per minute at most; never beside a run in
    flight). `lethe tick JOB` runs its due slot instead."""
    cli = state(ctx)
    service = _service(cli)
    try:
        with stop_on_signals(service.stop_all):
            claim, runs = service.fire(name, trigger="cli", manual=True)
        ok = _finish(cli, claim, runs, as_json)
    finally:
        service.close()
    if not ok:
        raise typer.Exit(int(ExitCode.FINISHED_WITH_ERRORS))


def tick(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Jobs to consider (default: every job).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Run whatever slot is due now, for an external scheduler to call every few minutes.

    Exits 0 saying why when nothing ran (not due, duplicate, already claimed, skipped); exits 1
    when a run it made did not succeed."""
    cli = state(ctx)
    service = _service(cli)
    if not service.config.jobs:
        service.close()
        typer.echo(
            f"Nothing to run: {cli.lethe().settings.source} declares no [[jobs]] "
            "(see docs/jobs.md).",
            err=as_json,
        )
        return
    ok = True
    try:
        with stop_on_signals(service.stop_all):
            for name in names or [job.name for job in service.config.jobs]:
                claim, runs = service.fire(name, trigger="tick")
                ok = _finish(cli, claim, runs, as_json) and ok
    finally:
        service.close()
    if not ok:
        raise typer.Exit(int(ExitCode.FINISHED_WITH_ERRORS))


def scheduler(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Jobs run at once (default: scheduler.workers).")
    ] = None,
) -> None:
    """Run jobs at their slots until SIGTERM; several copies may share one state database."""
    cli = state(ctx)
    cli.log_floor = logging.INFO
    service = _service(cli)
    daemon = Scheduler(service, workers=workers)
    try:
        with stop_on_signals(daemon.shutdown):
            daemon.run()
    finally:
        service.close()


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="PORT", help="Port (Cloud Run sets PORT).")
    ] = 8080,
) -> None:
    """The HTTP service: trigger endpoints, job status, health, metrics, OpenAPI."""
    import uvicorn

    from lethe.http.app import create_app

    cli = state(ctx)
    cli.log_floor = logging.INFO
    service = _service(cli)
    app = create_app(service)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(tick)
    app.command()(scheduler)
    app.command()(serve)
    app.add_typer(jobs_app, name="jobs")
