"""Debian cron: an ``/etc/cron.d`` file and a wrapper script (``flock``, a log, the exit code).

Debian cron reads every line in the machine's time zone (it has no ``CRON_TZ``), declared as
``[deploy.crontab].timezone``; a job in another zone is refused. Its DST rules are lethe's own.
The cron.d file name has no dot, since cron ignores such files.
"""

from __future__ import annotations

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import CronDialect
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header
from lethe.schedule.cron import Schedule

__all__ = ["CrontabTarget"]

_DIALECT = CronDialect("Debian cron", debian_days=True)


@register("crontab")
class CrontabTarget(Target):
    """``/etc/cron.d/lethe-<project>`` and ``/usr/local/bin/lethe-<project>-job``."""

    title = "Debian cron"
    dst = "cron"

    def fixed_zone(self) -> str | None:
        return self.context.deploy.crontab.timezone

    def zone_reason(self, zone: str) -> str:
        return (
            f"Debian cron reads schedules in the machine's zone, {zone} ([deploy.crontab] timezone)"
        )

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return (_DIALECT.translate(CronFields.of(schedule)),)

    @property
    def _base(self) -> str:
        return dns_name("lethe", self.context.project)

    @property
    def _wrapper(self) -> str:
        return self.context.deploy.crontab.wrapper or f"/usr/local/bin/{self._base}-job"

    def render(self, firings: list[Firing]) -> list[Artifact]:
        return [self._cron_file(firings), self._script(firings)]

    def _cron_file(self, firings: list[Firing]) -> Artifact:
        settings = self.context.deploy.crontab
        lines = [
            header("#", self.name, self.context, firings).rstrip("\n"),
            f"# Install as /etc/cron.d/{self._base} (no dot in the name, or cron ignores it).",
            f"# Times are in the machine's zone, which must be {settings.timezone}.",
            "SHELL=/bin/sh",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "",
        ]
        for firing in firings:
            lines.append(f"# {firing.declaration}")
            lines.append(
                f"{firing.expressions[0]} {settings.user} {self._wrapper} {firing.job.name}"
            )
        return Artifact(f"cron.d/{self._base}", "\n".join(lines) + "\n")

    def _script(self, firings: list[Firing]) -> Artifact:
        settings = self.context.deploy.crontab
        env_file = settings.env_file or f"/etc/lethe/{self.context.project}.env"
        command = self.context.shell([*settings.exec, *self.context.lethe("tick")])
        names = "|".join(f.job.name for f in firings)
        body = f"""#!/bin/sh
{header("#", self.name, self.context, firings).rstrip()}
# Install as {self._wrapper}. Runs one lethe job for cron: one run at a time per job
# (flock), output appended to {settings.log_dir}/JOB.log with timestamps, and the exit
# code passed through (75: the previous run still holds the lock). Secrets come from
# {env_file}, which this script reads and never prints.
set -u
job="${{1:?usage: $0 JOB}}"
case "$job" in
  {names}) ;;
  *) echo "$0: unknown job: $job" >&2; exit 2 ;;
esac
mkdir -p {settings.log_dir}
log="{settings.log_dir}/$job.log"
if [ -r {env_file} ]; then
  set -a; . {env_file}; set +a
fi
cd {settings.workdir} || exit 1
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) start $job" >>"$log"
flock -n -E 75 "/run/lock/{self._base}-$job.lock" {command} "$job" >>"$log" 2>&1
status=$?
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) end $job: exit $status" >>"$log"
exit "$status"
"""
        return Artifact(f"bin/{self._base}-job", body, executable=True)
