"""State shared by every command: which policy file, and how to print."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime

import typer
from rich.console import Console

from lethe import secrets
from lethe.api import Lethe
from lethe.config.loader import DEFAULT_CONFIG
from lethe.errors import ConfigError

__all__ = ["CliState", "configure_logging", "parse_instant", "state"]


@dataclass
class CliState:
    """Options given before the command name."""

    config: str = field(default_factory=lambda: os.environ.get("LETHE_CONFIG", DEFAULT_CONFIG))
    #: Lines are never broken by lethe (the terminal wraps them), so an id or a path printed
    #: in a message stays whole for copying and grep; tables still fit the width.
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    #: Long-running commands log at least this much (INFO: one line per job event).
    log_floor: int = logging.WARNING
    _lethe: Lethe | None = None

    def lethe(self) -> Lethe:
        """The policy file, loaded once per command."""
        if self._lethe is None:
            self._lethe = Lethe.from_file(self.config)
            level = logging.getLevelName(self._lethe.settings.config.run.log_level)
            configure_logging(min(int(level), self.log_floor))
        return self._lethe

    def close(self) -> None:
        if self._lethe is not None:
            self._lethe.close()


class _Scrub(logging.Filter):
    """Mask secrets in every record on its way out."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = secrets.scrub(record.getMessage())
        record.args = None
        return True


def configure_logging(level: int | str) -> None:
    """Send the ``lethe`` logger's records at ``level`` and above to stderr, one line each,
    secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Scrub())
    logger = logging.getLogger("lethe")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command."""
    found = ctx.find_object(CliState)
    if found is None:  # a sub-command invoked without the root callback (tests)
        found = CliState()
        ctx.obj = found
    return found


def parse_instant(text: str | None) -> datetime | None:
    """``--as-of`` values: ISO 8601; without an offset the instant is taken as UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--as-of {text!r} is not an ISO 8601 instant (e.g. 2024-10-26T02:00:00Z)"
        ) from None
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value
