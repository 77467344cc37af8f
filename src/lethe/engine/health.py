"""``lethe health``: is every job running, and running cleanly?

A policy is unhealthy when it has no successful run within ``health.window`` (48 hours by
default: the alert users ask for, "no successful run in 48 h"), or when its last run had more
than ``health.max_errors`` errors. The answer comes from the recorded runs only, so it can be
asked from anywhere that reaches lethe's state database, and evaluated ``as_of`` any instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lethe.engine.runtime import Runtime
from lethe.errors import ConfigError
from lethe.model.text import stamp

__all__ = ["HealthReport", "PolicyHealth", "health"]


@dataclass(frozen=True)
class PolicyHealth:
    """One policy's verdict, with the runs it rests on."""

    policy: str
    problems: tuple[str, ...]
    last_success: str | None
    last_run: str | None
    last_run_errors: int

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class HealthReport:
    """Every policy's verdict at ``as_of``; ``healthy`` only when all are."""

    as_of: datetime
    policies: tuple[PolicyHealth, ...]

    @property
    def healthy(self) -> bool:
        return all(p.healthy for p in self.policies)

    def to_document(self) -> dict[str, Any]:
        """The report as JSON (``lethe health --json``)."""
        return {
            "status": "healthy" if self.healthy else "unhealthy",
            "asOf": self.as_of.isoformat(),
            "policies": [
                {
                    "policy": p.policy,
                    "status": "healthy" if p.healthy else "unhealthy",
                    "problems": list(p.problems),
                    "lastSuccess": p.last_success,
                    "lastRun": p.last_run,
                    "lastRunErrors": p.last_run_errors,
                }
                for p in self.policies
            ],
        }


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def health(
    rt: Runtime, policies: Sequence[str] | None = None, as_of: datetime | None = None
) -> HealthReport:
    """Judge ``policies`` (every enabled one by default) from the recorded runs."""
    as_of = as_of or rt.state.now()
    config = rt.config.health
    names = list(policies or [n for n, p in rt.config.policies.items() if p.enabled])
    for name in names:
        if name not in rt.config.policies:
            known = ", ".join(sorted(rt.config.policies)) or "none"
            raise ConfigError(f"unknown policy {name!r} (policies: {known})")
    last_run: dict[str, dict[str, Any]] = {}
    last_success: dict[str, dict[str, Any]] = {}
    for run in rt.runs.iter_recent():
        if run["status"] == "running" or (run["dryRun"] and not config.count_dry_runs):
            continue
        for name in set(run["policies"]) & set(names):
            last_run.setdefault(name, run)
            if run["status"] == "succeeded":
                last_success.setdefault(name, run)
        if len(last_success) == len(names):
            break
    oldest = config.window.before(as_of)
    verdicts = []
    for name in names:
        problems = []
        success = last_success.get(name)
        completed = _instant(success["completedAt"]) if success else None
        if completed is None or completed < oldest:
            since = f"since {stamp(completed)}" if completed else "ever"
            problems.append(f"no successful run within {config.window} ({since})")
        latest = last_run.get(name)
        errors = int(latest["errors"]) if latest else 0
        if latest and errors > config.max_errors:
            problems.append(f"last run {latest['runId']} had {errors} errors")
        verdicts.append(
            PolicyHealth(
                name,
                tuple(problems),
                success["runId"] if success else None,
                latest["runId"] if latest else None,
                errors,
            )
        )
    return HealthReport(as_of, tuple(verdicts))
