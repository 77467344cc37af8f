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
        name = firing.job.name
        # A manual dispatch runs a manual slot; the schedule runs the due slot.
        manual = 'if [ "$GITHUB_EVENT_NAME" = workflow_dispatch ]; then'
        if settings.mode == "http":
            base = (settings.url or "https://lethe.example.com").rstrip("/")
            curl = (
                "curl --fail-with-body --silent --show-error --max-time 60 -X POST "
                '-H "Authorization: Bearer $LETHE_TOKEN"'
            )
            run = (
                f'url="{base}/jobs/{name}/runs"\n{manual} url="$url?manual=true"; fi\n'
                f'{curl} "$url"\n'
            )
            secret = "${{ secrets." + settings.token_secret + " }}"
            return [{"name": "Fire the job", "run": run, "env": {"LETHE_TOKEN": secret}}]
        env = {var: "${{ secrets." + var + " }}" for var in self.context.env_names}
        shell = self.context.shell
        run = (
            f"{manual}\n  {shell(self.context.lethe('jobs', 'trigger', name))}\nelse\n"
            f"  {shell(self.context.tick(name))}\nfi\n"
        )
        tick: dict[str, Any] = {
            "name": "Run the due slot (or, dispatched, a manual one)",
            "run": run,
        }
        if env:
            tick["env"] = env
        return [
            {"uses": "actions/checkout@v5"},
            {"uses": "actions/setup-python@v6", "with": {"python-version": settings.python}},
            {"name": "Install lethe", "run": settings.install},
            tick,
        ]
