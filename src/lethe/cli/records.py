"""``lethe records``: the policy file's retention schedule as records of processing."""

from __future__ import annotations

from typing import Annotated

import typer

from lethe.cli.context import state
from lethe.errors import ConfigError

__all__ = ["register"]


def records(
    ctx: typer.Context,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="md (Markdown, default), csv (one row a dataset) or json."
        ),
    ] = "md",
) -> None:
    """Print the retention schedule (GDPR Art. 30(1)(f)) from the policy file: per dataset
    what it is, where it is stored (never credentials), how long it is kept and each phase in
    words, who is warned before, the holds that stop it, purpose and legal basis.

    Reads only the policy file; the optional dataset keys category, purpose, legal_basis and
    description fill it in (docs/evidence.md, "Records of processing")."""
    from lethe.evidence.records import FORMATS, render, schedule

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    config = state(ctx).lethe().settings.config
    typer.echo(render(schedule(config), fmt), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``lethe records`` to ``app``."""
    app.command()(records)
