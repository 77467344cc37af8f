"""``lethe deploy TARGET``: deployment glue generated from the ``[[jobs]]`` declarations."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.config.jobs import JobConfig
from lethe.config.loader import Settings, load_file
from lethe.deploy import TARGETS, Artifact, context_for, generate, write
from lethe.errors import ConfigError

__all__ = ["register"]


def deploy(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="One of: " + ", ".join(sorted(TARGETS)) + ".")],
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job (repeatable).")
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Only this stage (cloud-scheduler).")
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out", help="Directory to write to; '-' prints instead.", show_default="deploy/TARGET"
        ),
    ] = None,
    approximate: Annotated[
        str | None,
        typer.Option(
            "--approximate",
            help="'tick': where the platform cannot carry a schedule or zone, fire `lethe tick` "
            "on the coarsest schedule it can (the ledger keeps the exact one).",
        ),
    ] = None,
) -> None:
    """Generate deployment files for the jobs: checked first, nothing written on refusal."""
    if target not in TARGETS:
        raise ConfigError(
            f"unknown deployment target {target!r}; use one of {', '.join(sorted(TARGETS))}"
        )
    if approximate not in (None, "tick"):
        raise ConfigError(f"--approximate takes 'tick', not {approximate!r}")
    path = state(ctx).config
    settings = load_file(path)
    context = context_for(
        settings,
        Path(path).read_text(encoding="utf-8"),
        now=datetime.now(UTC),
        stage=stage,
        approximate=approximate == "tick",
    )
    artifacts = generate(target, _selected(settings, job), settings.config.jobs, context)
    for warning in context.warnings:
        print(f"lethe: warning: {warning}", file=sys.stderr)
    _emit(artifacts, out, target)


def _selected(settings: Settings, names: list[str] | None) -> list[JobConfig]:
    """The jobs named by ``--job`` (every job without it); ConfigError for an unknown name."""
    jobs = settings.config.jobs
    if not jobs:
        raise ConfigError("no [[jobs]] to deploy: declare one (see docs/jobs.md)", settings.source)
    if not names:
        return list(jobs)
    chosen: list[JobConfig] = []
    for name in names:
        found = settings.config.job(name)
        if found is None:
            known = ", ".join(j.name for j in jobs)
            raise ConfigError(f"unknown job {name!r} (jobs: {known})", settings.source)
        chosen.append(found)
    return chosen


def _emit(artifacts: list[Artifact], out: str | None, target: str) -> None:
    if out == "-":
        for artifact in artifacts:
            typer.echo(f"==> {artifact.path} <==")
            typer.echo(artifact.text, nl=False)
        return
    for written in write(artifacts, Path(out or f"deploy/{target}")):
        typer.echo(str(written))


def register(app: typer.Typer) -> None:
    """Add ``lethe deploy`` to ``app``."""
    app.command("deploy")(deploy)
