"""pg_cron: SQL that schedules an HTTP call to ``lethe serve`` through pg_net.

``cron.schedule(name, schedule, command)`` updates a job of the same name, so the file can be
run again after a change. pg_cron before 1.5 reads schedules in GMT; from 1.5 in its single
``cron.timezone``; a job in another zone is refused. The bearer token is read when the job runs
from an SQL expression (a database setting by default, or Supabase Vault), never written here.
"""

from __future__ import annotations

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header
from lethe.schedule.cron import Schedule

__all__ = ["PgCronTarget", "sql_literal"]

_DIALECT = CronDialect("pg_cron", debian_days=False)
_TAG = "$lethe$"


def sql_literal(value: str) -> str:
    """A single-quoted SQL string."""
    return "'" + value.replace("'", "''") + "'"


@register("pg-cron")
class PgCronTarget(Target):
    """``pg_cron.sql`` (schedule or update every job) and ``pg_cron_unschedule.sql``."""

    title = "pg_cron"

    def fixed_zone(self) -> str | None:
        return self.context.deploy.pg_cron.timezone if self._has_timezone() else "UTC"

    def _has_timezone(self) -> bool:
        """pg_cron 1.5 added ``cron.timezone``; before it, schedules are in GMT."""
        major, minor = (int(p) for p in self.context.deploy.pg_cron.version.split(".")[:2])
        return (major, minor) >= (1, 5)

    def zone_reason(self, zone: str) -> str:
        version = self.context.deploy.pg_cron.version
        if not self._has_timezone():
            return f"pg_cron {version} reads schedules in GMT"
        return f"pg_cron reads schedules in its one cron.timezone, {zone}"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (_DIALECT.translate(CronFields.of(schedule)),)

    def job_name(self, firing: Firing) -> str:
        """The pg_cron job name (``cron.job.jobname``)."""
        return dns_name("lethe", self.context.project, firing.job.name)

    def command(self, firing: Firing) -> str:
        """The SQL the job runs: a POST to ``/jobs/<job>/runs`` with the bearer token."""
        settings = self.context.deploy.pg_cron
        url = f"{settings.url.rstrip('/')}/jobs/{firing.job.name}/runs"
        return (
            f"SELECT net.http_post(url := {sql_literal(url)}, headers := jsonb_build_object("
            f"'Authorization', 'Bearer ' || {settings.token_sql}), timeout_milliseconds := 60000)"
        )

    def render(self, firings: list[Firing]) -> list[Artifact]:
        settings = self.context.deploy.pg_cron
        zone = self.fixed_zone()
        lines = [
            header("--", self.name, self.context, firings).rstrip("\n"),
            f"-- For pg_cron {settings.version}, whose schedules are in {zone}; the calls need",
            "-- pg_net. The token comes from " + settings.token_sql + " when a job runs:",
            "-- set it once outside this file (e.g. ALTER DATABASE … SET lethe.trigger_token).",
            "",
        ]
        for firing in firings:
            command = self.command(firing)
            if _TAG in command:  # pragma: no cover - a URL cannot contain it
                raise ValueError("the command contains the dollar-quote tag")
            lines += [
                f"-- {firing.declaration}",
                f"SELECT cron.schedule({sql_literal(self.job_name(firing))}, "
                f"{sql_literal(firing.expressions[0])}, {_TAG}{command}{_TAG});",
                "",
            ]
        drop = [header("--", self.name, self.context, firings).rstrip("\n")]
        drop += [f"SELECT cron.unschedule({sql_literal(self.job_name(f))});" for f in firings]
        return [
            Artifact("pg_cron.sql", "\n".join(lines)),
            Artifact("pg_cron_unschedule.sql", "\n".join(drop) + "\n"),
        ]
