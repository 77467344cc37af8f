"""State shared by every command: which policy file, and how to print."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

import typer
from rich.console import Console

from lethe.api import Lethe
from lethe.config.loader import DEFAULT_CONFIG
from lethe.errors import ConfigError

__all__ = ["CliState", "parse_instant", "state"]


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
        return self._lethe

    def close(self) -> None:
        if self._lethe is not None:
            self._lethe.close()


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
