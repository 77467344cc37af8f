"""Heroku Scheduler: it has no API for its jobs, so lethe prints the exact entries to add.

It offers three frequencies in UTC — every 10 minutes, hourly at a 10-minute mark, daily at a
half hour — and anything else is refused (``--approximate=tick`` picks the coarsest of these
that fires at every slot, or every 10 minutes, saying how late a slot may start).
"""

from __future__ import annotations

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import heroku_frequency
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import header
from lethe.schedule.cron import Schedule

__all__ = ["HerokuTarget"]


@register("heroku")
class HerokuTarget(Target):
    """``heroku-scheduler.txt``: one entry per job."""

    title = "Heroku Scheduler"
    finest_tick = "*/10 * * * *"

    def fixed_zone(self) -> str | None:
        return "UTC"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (heroku_frequency(CronFields.of(schedule)),)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        lines = [
            header("#", self.name, self.context, firings).rstrip("\n"),
            "# Heroku Scheduler has no API: open it with `heroku addons:open scheduler` and add",
            "# each job below (Add Job). The app's config vars provide the environment.",
            "",
        ]
        for firing in firings:
            lines += [
                f"Job: {firing.job.name}",
                f"  Run command: {self.context.shell(self.context.tick(firing.job.name))}",
                f"  Frequency:   {firing.expressions[0]}",
                f"  Dyno size:   {self.context.deploy.heroku.dyno_size}",
                "",
            ]
        return [Artifact("heroku-scheduler.txt", "\n".join(lines))]
