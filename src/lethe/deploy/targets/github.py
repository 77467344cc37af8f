"""GitHub Actions: a workflow per job, ``schedule`` plus ``workflow_dispatch``.

The ``timezone:`` key carries a zone other than UTC. GitHub runs scheduled workflows at most
every 5 minutes, may start them late and documents nothing about DST. Secrets are referenced as
``${{ secrets.NAME }}``, one per environment variable the policy file reads.
"""

from __future__ import annotations

import itertools
from typing import Any

from lethe.config.jobs import fixed
from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect, Unsupported
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header, to_yaml
from lethe.schedule.cron import Schedule

__all__ = ["GitHubActionsTarget", "shortest_gap"]

_DIALECT = CronDialect("GitHub Actions")
MIN_INTERVAL = 5


def shortest_gap(fields: CronFields) -> int:
    """The shortest time between two firings on one day, in minutes (1440 for one a day)."""
    times = sorted(h * 60 + m for h in fields.hour.values for m in fields.minute.values)
    wrapped = [*times, times[0] + 24 * 60]
    return min(b - a for a, b in itertools.pairwise(wrapped))


@register("github-actions")
class GitHubActionsTarget(Target):
    """``.github/workflows/lethe-<job>.yml``."""

    title = "GitHub Actions"
    finest_tick = "*/5 * * * *"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        fields = CronFields.of(schedule)
        if shortest_gap(fields) < MIN_INTERVAL:
            raise Unsupported(
                f"GitHub Actions runs a schedule at most every {MIN_INTERVAL} minutes"
            )
        return (_DIALECT.translate(fields),)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        return [
            Artifact(
                f".github/workflows/{dns_name('lethe', f.job.name)}.yml",
                header("#", self.name, self.context, [f]) + to_yaml(self._workflow(f)),
            )
            for f in firings
        ]

    def _workflow(self, firing: Firing) -> dict[str, Any]:
        trigger: dict[str, str] = {"cron": firing.expressions[0]}
        if firing.schedule.zone != "UTC":
            trigger["timezone"] = firing.schedule.zone
        job: dict[str, Any] = {"runs-on": self.context.deploy.github_actions.runs_on}
        if firing.job.timeout is not None:
            minutes = -(-int(fixed(firing.job.timeout).total_seconds()) // 60)
            job["timeout-minutes"] = minutes + 5  # room to install lethe
        job["steps"] = self._steps(firing)
        return {
            "name": f"lethe {firing.job.name}",
            "on": {"schedule": [trigger], "workflow_dispatch": {}},
            "permissions": {"contents": "read"},
            "concurrency": {"group": f"lethe-{firing.job.name}", "cancel-in-progress": False},
            "jobs": {"tick": job},
        }

    def _steps(self, firing: Firing) -> list[dict[str, Any]]:
        settings = self.context.deploy.github_actions
        if settings.mode == "http":
            url = f"{(settings.url or 'https://lethe.example.com').rstrip('/')}/jobs/{firing.job.name}/runs"
            run = (
                "curl --fail-with-body --silent --show-error --max-time 60 -X POST "
                f'-H "Authorization: Bearer $LETHE_TOKEN" "{url}"'
            )
            secret = "${{ secrets." + settings.token_secret + " }}"
            return [{"name": "Trigger the slot", "run": run, "env": {"LETHE_TOKEN": secret}}]
        env = {name: "${{ secrets." + name + " }}" for name in self.context.env_names}
        tick: dict[str, Any] = {
            "name": "Run the due slot",
            "run": self.context.shell(self.context.tick(firing.job.name)),
        }
        if env:
            tick["env"] = env
        return [
            {"uses": "actions/checkout@v5"},
            {"uses": "actions/setup-python@v6", "with": {"python-version": settings.python}},
            {"name": "Install lethe", "run": settings.install},
            tick,
        ]
