"""systemd: a oneshot service and a timer per job.

``Persistent=true`` runs a firing missed while the machine was off; the job's jitter becomes
``RandomizedDelaySec``; its timeout ``TimeoutStartSec`` (``RuntimeMaxSec`` is ignored for
oneshot services); ``AccuracySec=1s`` keeps systemd from moving a firing by up to a minute.
Timers carry the zone on each ``OnCalendar=`` line. systemd skips a fixed time the clocks jump
over (``systemd-analyze calendar`` shows it), so such a job is refused.
"""

from __future__ import annotations

from lethe.config.jobs import fixed
from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import on_calendar
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header
from lethe.schedule.cron import Schedule

__all__ = ["SystemdTarget"]


@register("systemd")
class SystemdTarget(Target):
    """``lethe-<project>-<job>.service`` and ``.timer``."""

    title = "systemd"
    dst = "skips"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return tuple(on_calendar(CronFields.of(schedule), schedule.zone))

    def unit(self, firing: Firing) -> str:
        """The unit name (without suffix) of ``firing``'s job."""
        return dns_name("lethe", self.context.project, firing.job.name)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        files: list[Artifact] = []
        for firing in firings:
            files.append(Artifact(f"{self.unit(firing)}.service", self._service(firing)))
            files.append(Artifact(f"{self.unit(firing)}.timer", self._timer(firing)))
        return files

    def _service(self, firing: Firing) -> str:
        settings = self.context.deploy.systemd
        env_file = settings.env_file or f"/etc/lethe/{self.context.project}.env"
        timeout = firing.job.timeout
        command = self.context.shell(self.context.tick(firing.job.name)).replace("%", "%%")
        lines = [
            header("#", self.name, self.context, [firing]).rstrip("\n"),
            "[Unit]",
            f"Description=lethe job {firing.job.name} ({self.context.project})",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={command}",
            f"EnvironmentFile={env_file}",
            f"TimeoutStartSec={int(fixed(timeout).total_seconds()) if timeout else 'infinity'}",
            "KillSignal=SIGTERM",
        ]
        if settings.workdir:
            lines.append(f"WorkingDirectory={settings.workdir}")
        if settings.user:
            lines.append(f"User={settings.user}")
        return "\n".join(lines) + "\n"

    def _timer(self, firing: Firing) -> str:
        lines = [
            header("#", self.name, self.context, [firing]).rstrip("\n"),
            "[Unit]",
            f"Description=Schedule of lethe job {firing.job.name} ({self.context.project})",
            "",
            "[Timer]",
            *(f"OnCalendar={value}" for value in firing.expressions),
            "Persistent=true",
            "AccuracySec=1s",
        ]
        jitter = int(fixed(firing.job.jitter).total_seconds())
        if jitter:
            lines.append(f"RandomizedDelaySec={jitter}")
        lines += [f"Unit={self.unit(firing)}.service", "", "[Install]", "WantedBy=timers.target"]
        return "\n".join(lines) + "\n"
