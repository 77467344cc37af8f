"""Northflank: a cron job service per job, as the JSON body of its API (or to paste).

Northflank reads schedules in UTC and accepts neither names nor ``*/n``: fields are written
as plain lists. Secrets come from a project secret group restricted to (or tagged for) these
jobs; nothing secret is in the JSON.
"""

from __future__ import annotations

from typing import Any

from lethe.config.jobs import fixed
from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header_lines, to_json
from lethe.schedule.cron import Schedule

__all__ = ["NorthflankTarget"]

_DIALECT = CronDialect("Northflank", names=False, steps=False)


@register("northflank")
class NorthflankTarget(Target):
    """``<project>-<job>.json`` for ``POST /v1/projects/<project>/jobs/cron``."""

    title = "Northflank"

    def fixed_zone(self) -> str | None:
        return "UTC"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (_DIALECT.translate(CronFields.of(schedule)),)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        return [
            Artifact(f"{dns_name(self.context.project, f.job.name)}.json", to_json(self._job(f)))
            for f in firings
        ]

    def _job(self, firing: Firing) -> dict[str, Any]:
        settings = self.context.deploy.northflank
        cron: dict[str, Any] = {"schedule": firing.expressions[0], "concurrencyPolicy": "forbid"}
        job_settings: dict[str, Any] = {"cron": cron, "backoffLimit": 0}
        if firing.job.timeout is not None:
            job_settings["activeDeadlineSeconds"] = int(fixed(firing.job.timeout).total_seconds())
        document: dict[str, Any] = {
            "name": dns_name(self.context.project, firing.job.name),
            "description": " ".join(header_lines(self.name, self.context, [firing])),
            "billing": {"deploymentPlan": settings.plan},
            "deployment": {
                "external": {"imagePath": self.context.deploy.image},
                "docker": {
                    "configType": "customCommand",
                    "customCommand": self.context.shell(self.context.tick(firing.job.name)),
                },
            },
            "settings": job_settings,
        }
        return document
