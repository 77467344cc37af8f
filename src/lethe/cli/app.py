"""The ``lethe`` command line.

Exit codes (also in the README): 0 success · 1 finished with errors · 2 invalid configuration
or usage · 3 a safety limit refused the run (nothing changed) · 4 the audit chain does not
verify · 5 a store is unreachable · 6 a run, hold or item was not found · 7 ``lethe health``
found a policy unhealthy · 8 to 11 a notice was not delivered (unreachable, TLS,
authentication, rejected).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated, TextIO

import typer

from lethe import __version__, secrets
from lethe.cli import (
    admin,
    approvals,
    attest,
    deploy,
    evidence,
    files,
    jobs,
    notify,
    operate,
    records,
)
from lethe.cli.context import CliState
from lethe.cli.help import quiet_flag_types
from lethe.errors import ExitCode, LetheError, exit_code_for

__all__ = ["app", "main", "show_warning"]

quiet_flag_types()

app = typer.Typer(
    name="lethe",
    help=(
        "Declarative data retention: plan, dry-run and run deletions in short audited "
        "batches.\n\nStart with `lethe demo`, then `lethe check`, `lethe plan`, `lethe run "
        "--dry-run` and `lethe run` against your own lethe.toml."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lethe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            envvar="LETHE_CONFIG",
            help="Policy file to use.",
            show_default="lethe.toml",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Options shared by every command."""
    cli_state = CliState()
    if config:
        cli_state.config = config
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


operate.register(app)
admin.register(app)
jobs.register(app)
notify.register(app)
deploy.register(app)
files.register(app)
evidence.register(app)
attest.register(app)
records.register(app)
approvals.register(app)


def main(argv: list[str] | None = None, *, prog_name: str = "lethe") -> int:
    """Entry point: run a command and map every error to its documented exit code.

    ``prog_name`` is the command the usage lines show (``manage.py lethe`` under Django).

    Usage errors exit 2 (as the argument parser reports them); lethe's own errors print one
    line on stderr and exit with their code (see :mod:`lethe.errors`). Anything else is a bug:
    one line too (a run it ended is recorded ``failed`` with it), exit 1, and the traceback
    only when ``LETHE_TRACEBACK=1``.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            app(args=argv, prog_name=prog_name)
    except LetheError as exc:
        print(f"lethe: error: {_one_line(exc)}", file=sys.stderr)
        return int(exc.exit_code)
    except Exception as exc:
        if os.environ.get("LETHE_TRACEBACK") == "1":
            raise
        print(
            f"lethe: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(a bug: please report it; LETHE_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return int(exit_code_for(exc))
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else int(ExitCode.INVALID))
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(secrets.scrub(str(exc)).split())


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A library's warning (a driver ignoring a URL option) as one line, secrets masked: the
    default format quotes the source line and the message unscrubbed."""
    text = secrets.scrub(" ".join(str(message).split()))
    print(f"lethe: warning: {text}", file=file or sys.stderr)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
