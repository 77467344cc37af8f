"""``python manage.py lethe …``: lethe's command line inside the Django project.

Every subcommand, option, output and exit code is the ``lethe`` CLI's own: the arguments are
handed to :func:`lethe.cli.app.main` unparsed, with ``--config settings.LETHE_CONFIG`` in
front (a ``--config`` given on the command line still wins, being later). Django's
``--settings`` and ``--pythonpath`` are taken by ``manage.py`` and not passed on.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lethe.cli.app import main
from lethe.contrib.django.conf import config_path
from lethe.errors import LetheError

_DJANGO_OPTIONS = ("--settings", "--pythonpath")


def lethe_argv(args: list[str]) -> list[str]:
    """``args`` as lethe's CLI takes them: the policy file from the settings first."""
    path = config_path()
    return ["--config", path, *args] if path is not None else list(args)


def _without_django_options(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _DJANGO_OPTIONS)):
            kept.append(arg)
    return kept


class Command(BaseCommand):
    help = "lethe's data-retention commands (check, plan, run, hold, …): `manage.py lethe --help`"

    def add_arguments(self, parser: CommandParser) -> None:
        # REMAINDER: ``call_command("lethe", "run", "--dry-run")`` passes lethe's options on.
        parser.add_argument(
            "lethe_args", nargs=argparse.REMAINDER, help="lethe's subcommand and its options"
        )

    def run_from_argv(self, argv: list[str]) -> None:
        """``manage.py lethe ARGS``: exit with lethe's own exit code."""
        prog = f"{os.path.basename(argv[0])} {argv[1]}"
        sys.exit(self._lethe(_without_django_options(argv[2:]), prog))

    def print_help(self, prog_name: str, subcommand: str) -> None:
        """``manage.py help lethe`` shows lethe's help."""
        self._lethe(["--help"], f"{prog_name} {subcommand}")

    def handle(self, *args: Any, **options: Any) -> None:
        """``call_command("lethe", "plan", …)``: a non-zero exit is a ``CommandError`` that
        carries lethe's exit code."""
        code = self._lethe([str(a) for a in options.get("lethe_args", args)], "lethe")
        if code:
            raise CommandError(f"lethe exited with {code}", returncode=code)

    def _lethe(self, args: list[str], prog_name: str) -> int:
        try:
            argv = lethe_argv(args)
        except LetheError as exc:
            print(f"lethe: error: {exc}", file=sys.stderr)
            return int(exc.exit_code)
        return main(argv, prog_name=prog_name)
