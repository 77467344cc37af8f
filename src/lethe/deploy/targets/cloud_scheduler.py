"""Google Cloud Scheduler: HTTP jobs with OIDC tokens calling ``lethe serve``, per stage.

For each stage: the jobs as Cloud Scheduler ``Job`` JSON, a gcloud script (describe, then update
or create; list, run, pause, resume, delete) and Terraform. Job names are
``<project>-<job>-<stage>`` except for the unsuffixed stage (production, by default). Each job
POSTs ``/jobs/<job>/runs``: Cloud Scheduler retries anything but a 2xx, and the ledger answers a
retry ``duplicate``. Google documents no DST rule beyond "anomalies", so a schedule meeting a
DST change is generated with a warning.
"""

from __future__ import annotations

from typing import Any

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import header, header_lines, to_json
from lethe.deploy.targets.cloud_scheduler_script import gcloud_script, terraform
from lethe.errors import DeployRefusedError
from lethe.schedule.cron import Schedule

__all__ = ["CloudSchedulerTarget"]

_DIALECT = CronDialect("Cloud Scheduler")


@register("cloud-scheduler")
class CloudSchedulerTarget(Target):
    """``<stage>/jobs/<name>.json``, ``<stage>/scheduler.sh``, ``<stage>/scheduler.tf``."""

    title = "Cloud Scheduler"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (_DIALECT.translate(CronFields.of(schedule)),)

    def stage_names(self) -> list[str]:
        """The stages to render: ``--stage``, or every configured stage."""
        stages = self.context.deploy.cloud_scheduler.stages
        chosen = self.context.stage
        if chosen is None:
            return list(stages)
        if chosen not in stages:
            raise DeployRefusedError(
                f"unknown stage {chosen!r} (deploy.cloud-scheduler.stages: {', '.join(stages)})",
                self.context.source,
            )
        return [chosen]

    def job_name(self, firing: Firing, stage: str) -> str:
        """The Cloud Scheduler job id of ``firing`` in ``stage``."""
        base = f"{self.context.project}-{firing.job.name}"
        suffixed = stage != self.context.deploy.cloud_scheduler.unsuffixed_stage
        return f"{base}-{stage}" if suffixed else base

    def job(self, firing: Firing, stage: str) -> dict[str, Any]:
        """The Cloud Scheduler ``Job`` resource (REST JSON) of ``firing`` in ``stage``."""
        settings = self.context.deploy.cloud_scheduler
        base = settings.url.format(stage=stage).rstrip("/")
        name = self.job_name(firing, stage)
        return {
            "name": f"projects/{settings.project_id}/locations/{settings.location}/jobs/{name}",
            "description": " ".join(header_lines(self.name, self.context, [firing])),
            "schedule": firing.expressions[0],
            "timeZone": firing.schedule.zone,
            "httpTarget": {
                "uri": f"{base}/jobs/{firing.job.name}/runs",
                "httpMethod": "POST",
                "oidcToken": {
                    "serviceAccountEmail": settings.service_account.format(stage=stage),
                    "audience": (settings.audience or base).format(stage=stage),
                },
            },
            "attemptDeadline": settings.attempt_deadline,
            "retryConfig": {"retryCount": settings.retries},
        }

    def render(self, firings: list[Firing]) -> list[Artifact]:
        files: list[Artifact] = []
        for stage in self.stage_names():
            jobs = [(firing, self.job(firing, stage)) for firing in firings]
            for firing, job in jobs:
                files.append(
                    Artifact(f"{stage}/jobs/{self.job_name(firing, stage)}.json", to_json(job))
                )
            files.append(
                Artifact(
                    f"{stage}/scheduler.sh",
                    gcloud_script(header("#", self.name, self.context, firings), jobs, stage),
                    executable=True,
                )
            )
            files.append(
                Artifact(
                    f"{stage}/scheduler.tf",
                    terraform(header("#", self.name, self.context, firings), jobs),
                )
            )
        return files
