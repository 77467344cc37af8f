"""Kubernetes: a ``batch/v1`` CronJob per job, and an on-demand Job per job with its script.

``kubectl create job --from=cronjob/…`` would copy the CronJob's ``lethe tick``, which answers
``not_due`` outside the schedule; the on-demand Job runs ``lethe jobs trigger`` instead (a manual
slot), from a manifest with ``generateName``.
"""

from __future__ import annotations

from typing import Any

from lethe.config.jobs import fixed
from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header, to_yaml
from lethe.errors import DeployRefusedError
from lethe.schedule.cron import Schedule

__all__ = ["KubernetesTarget"]

# The controller names each Job "<cronjob>-<minutes since epoch>" (11 more characters), and a
# Job name must fit a 63-character label.
MAX_NAME = 52
_DIALECT = CronDialect("Kubernetes")


@register("kubernetes")
class KubernetesTarget(Target):
    """``concurrencyPolicy: Forbid``, ``timeZone``, ``startingDeadlineSeconds``, history
    limits, ``envFrom`` a ConfigMap and a Secret (by name), resources, and the job's
    ``timeout`` as ``activeDeadlineSeconds``. Kubernetes skips a fixed time the clocks jump
    over (cron runs it at the end of the gap), so such a job is refused."""

    title = "Kubernetes"
    dst = "skips"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (_DIALECT.translate(CronFields.of(schedule)),)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        files: list[Artifact] = []
        for firing in firings:
            top = header("#", self.name, self.context, [firing])
            name = self._name(firing)
            files.append(Artifact(f"{name}.yaml", top + to_yaml(self._cronjob(firing))))
            files.append(Artifact(f"run-now/{name}.yaml", top + to_yaml(self._run_job(firing))))
        return [*files, self._run_now(firings)]

    def _name(self, firing: Firing) -> str:
        name = dns_name(self.context.project, firing.job.name)
        if len(name) > MAX_NAME:
            raise DeployRefusedError(
                f"the CronJob name {name!r} has {len(name)} characters; Kubernetes allows "
                f"{MAX_NAME} (its Jobs add 11): shorten the job name or [deploy].project",
                f"{self.context.source}: jobs[{firing.index}].name",
            )
        return name

    def _cronjob(self, firing: Firing) -> dict[str, Any]:
        settings = self.context.deploy.kubernetes
        labels = self._labels(firing)
        metadata: dict[str, Any] = {"name": self._name(firing), "labels": labels}
        if settings.namespace:
            metadata["namespace"] = settings.namespace
        job_spec = self._job_spec(firing, self.context.tick(firing.job.name))
        spec = {
            "schedule": firing.expressions[0],
            "timeZone": firing.schedule.zone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": settings.starting_deadline_seconds,
            "successfulJobsHistoryLimit": settings.history,
            "failedJobsHistoryLimit": settings.history,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
        }
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}

    def _labels(self, firing: Firing) -> dict[str, str]:
        return {"app.kubernetes.io/managed-by": "lethe", "lethe/job": dns_name(firing.job.name)}

    def _job_spec(self, firing: Firing, command: list[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {"backoffLimit": self.context.deploy.kubernetes.backoff_limit}
        if firing.job.timeout is not None:
            spec["activeDeadlineSeconds"] = int(fixed(firing.job.timeout).total_seconds())
        pod = {"metadata": {"labels": self._labels(firing)}, "spec": self._pod(command)}
        spec["template"] = pod
        return spec

    def _run_job(self, firing: Firing) -> dict[str, Any]:
        """A Job running a manual slot now: ``kubectl create -f`` (it has ``generateName``)."""
        metadata: dict[str, Any] = {
            "generateName": f"{self._name(firing)}-",
            "labels": self._labels(firing),
        }
        namespace = self.context.deploy.kubernetes.namespace
        if namespace:
            metadata["namespace"] = namespace
        command = self.context.lethe("jobs", "trigger", firing.job.name)
        spec = self._job_spec(firing, command)
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}

    def _pod(self, command: list[str]) -> dict[str, Any]:
        settings = self.context.deploy.kubernetes
        project = self.context.project
        container: dict[str, Any] = {
            "name": "lethe",
            "image": self.context.deploy.image,
            "command": command,
        }
        container["envFrom"] = [
            {
                "configMapRef": {
                    "name": settings.config_map or f"{project}-config",
                    "optional": True,
                }
            },
            {"secretRef": {"name": settings.secret or f"{project}-secrets"}},
        ]
        container["resources"] = {"requests": settings.requests, "limits": settings.limits}
        pod: dict[str, Any] = {"restartPolicy": settings.restart_policy}
        if settings.service_account:
            pod["serviceAccountName"] = settings.service_account
        pod["containers"] = [container]
        return pod

    def _run_now(self, firings: list[Firing]) -> Artifact:
        lines = [
            "#!/bin/sh",
            header("#", self.name, self.context, firings).rstrip("\n"),
            "# Run a job now, outside its schedule (a manual slot): ./run-now.sh JOB",
            "set -eu",
            'here=$(dirname "$0")',
            'case "${1:-}" in',
        ]
        for firing in firings:
            manifest = f"$here/run-now/{self._name(firing)}.yaml"
            lines.append(f'  {firing.job.name}) exec kubectl create -f "{manifest}" ;;')
        lines += ['  *) echo "usage: $0 JOB" >&2; exit 2 ;;', "esac", ""]
        return Artifact("run-now.sh", "\n".join(lines), executable=True)
