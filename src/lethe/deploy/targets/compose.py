"""Docker Compose: a ``lethe scheduler`` service.

lethe's own scheduler fires every job of the policy file at its exact slots in its own zone,
so nothing is translated and nothing is refused. Several replicas may share a PostgreSQL state
database; ``SIGTERM`` stops a run at its next batch boundary.
"""

from __future__ import annotations

from typing import Any

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.registry import register
from lethe.deploy.render import header, to_yaml
from lethe.errors import DeployRefusedError
from lethe.schedule.cron import Schedule

__all__ = ["ComposeTarget"]


@register("compose")
class ComposeTarget(Target):
    """``compose.lethe.yaml``, to use beside the application's own compose file."""

    title = "Docker Compose"
    dst = "cron"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (f"{schedule.expression} ({schedule.zone}, by lethe scheduler)",)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        if len(firings) != self.context.job_count or any(f.tick for f in firings):
            raise DeployRefusedError(
                "compose runs `lethe scheduler`, which fires every job of the file: drop --job",
                self.context.source,
            )
        settings = self.context.deploy.compose
        service: dict[str, Any] = {
            "image": self.context.deploy.image,
            "command": self.context.lethe("scheduler"),
            "env_file": [settings.env_file],
            "restart": "unless-stopped",
            "stop_signal": "SIGTERM",
            "stop_grace_period": "2m",
        }
        if settings.config_mount:
            service["volumes"] = [f"{settings.config_mount}:{self.context.deploy.config}:ro"]
        document = {"services": {settings.service: service}}
        text = header("#", self.name, self.context, firings) + to_yaml(document)
        return [Artifact("compose.lethe.yaml", text)]
