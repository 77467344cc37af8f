"""State shared by every command: which policy file, and how to print."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime

import typer
from rich.console import Console

from lethe.api import Lethe
from lethe.config.loader import DEFAULT_CONFIG
from lethe.errors import ConfigError

__all__ = ["CliState", "configure_logging", "parse_instant", "state"]


@dataclass
class CliState:
    """Options given before the command name."""

    config: str = field(default_factory=lambda: os.environ.get("LETHE_CONFIG", DEFAULT_CONFIG))
    console: Console = field(default_factory=lambda: Console(highlight=False))
    _lethe: Lethe | None = None

    def lethe(self) -> Lethe:
        """The policy file, loaded once per command."""
        if self._lethe is None:
            self._lethe = Lethe.from_file(self.config)
            configure_logging(self._lethe.settings.config.run.log_level)
        return self._lethe

    def close(self) -> None:
        if self._lethe is not None:
            self._lethe.close()


def configure_logging(level: str) -> None:
    """Send the ``lethe`` logger's records at ``level`` and above to stderr."""
    logger = logging.getLogger("lethe")
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if getattr(h, "lethe_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.lethe_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


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
