"""Windows Task Scheduler: task XML (UTF-16LE with a BOM, as ``schtasks /XML`` requires).

Triggers are read in the machine's time zone, declared as ``[deploy.windows].timezone``; a job
in another zone is refused. ``IgnoreNew`` keeps one run at a time; ``StartWhenAvailable`` runs a
start missed while the machine was off; the job's timeout is ``ExecutionTimeLimit``.
"""

from __future__ import annotations

import codecs
import subprocess
from xml.sax.saxutils import escape

from lethe.config.jobs import fixed
from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import WindowsTrigger, windows_triggers
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header_lines
from lethe.schedule.cron import Schedule

__all__ = ["WindowsTarget", "trigger_xml"]

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def trigger_xml(trigger: WindowsTrigger) -> str:
    """One ``CalendarTrigger`` element."""
    parts = ["    <CalendarTrigger>"]
    if trigger.interval:
        parts.append(
            f"      <Repetition><Interval>PT{trigger.interval}M</Interval>"
            f"<Duration>PT{trigger.duration}M</Duration>"
            "<StopAtDurationEnd>false</StopAtDurationEnd></Repetition>"
        )
    hour, minute = divmod(trigger.start, 60)
    parts.append(f"      <StartBoundary>2000-01-01T{hour:02d}:{minute:02d}:00</StartBoundary>")
    parts.append("      <Enabled>true</Enabled>")
    months = "".join(f"<{_MONTHS[m - 1]} />" for m in trigger.months)
    if trigger.weekdays and trigger.months:
        weeks = "".join(f"<Week>{w}</Week>" for w in ("1", "2", "3", "4", "Last"))
        days = "".join(f"<{_DAYS[d]} />" for d in trigger.weekdays)
        parts.append(
            f"      <ScheduleByMonthDayOfWeek><Weeks>{weeks}</Weeks><DaysOfWeek>{days}</DaysOfWeek>"
            f"<Months>{months}</Months></ScheduleByMonthDayOfWeek>"
        )
    elif trigger.weekdays:
        days = "".join(f"<{_DAYS[d]} />" for d in trigger.weekdays)
        parts.append(
            "      <ScheduleByWeek><WeeksInterval>1</WeeksInterval>"
            f"<DaysOfWeek>{days}</DaysOfWeek></ScheduleByWeek>"
        )
    elif trigger.days:
        days = "".join(f"<Day>{d}</Day>" for d in trigger.days)
        every = months or "".join(f"<{m} />" for m in _MONTHS)
        parts.append(
            f"      <ScheduleByMonth><DaysOfMonth>{days}</DaysOfMonth><Months>{every}</Months>"
            "</ScheduleByMonth>"
        )
    else:
        parts.append("      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>")
    parts.append("    </CalendarTrigger>")
    return "\n".join(parts)


@register("windows")
class WindowsTarget(Target):
    """``<project>-<job>.xml`` per job and ``register.cmd`` (``schtasks /Create /XML``)."""

    title = "Windows Task Scheduler"

    def fixed_zone(self) -> str | None:
        return self.context.deploy.windows.timezone

    def zone_reason(self, zone: str) -> str:
        where = "[deploy.windows] timezone"
        return f"Task Scheduler reads triggers in the machine's zone, {zone} ({where})"

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        triggers = windows_triggers(CronFields.of(schedule))
        return tuple(trigger_xml(t) for t in triggers)

    def render(self, firings: list[Firing]) -> list[Artifact]:
        files: list[Artifact] = []
        commands = ["@echo off"]
        commands += [f"rem {line}" for line in header_lines(self.name, self.context, firings)]
        for firing in firings:
            name = dns_name(self.context.project, firing.job.name)
            text = self._task(firing)
            files.append(Artifact(f"{name}.xml", codecs.BOM_UTF16_LE + text.encode("utf-16-le")))
            commands.append(f'schtasks /Create /TN "\\lethe\\{name}" /XML "%~dp0{name}.xml" /F')
        files.append(Artifact("register.cmd", "\r\n".join(commands) + "\r\n"))
        return files

    def _task(self, firing: Firing) -> str:
        settings = self.context.deploy.windows
        argv = self.context.tick(firing.job.name)
        lines = header_lines(self.name, self.context, [firing])
        comment = "\n".join(f"     {line}".replace("--", "- -") for line in lines)
        timeout = firing.job.timeout
        limit = f"PT{int(fixed(timeout).total_seconds())}S" if timeout else "PT72H"
        return f"""<?xml version="1.0" encoding="UTF-16"?>
<!--
{comment}
-->
<Task version="1.2" xmlns="{_NS}">
  <RegistrationInfo>
    <Description>{escape(" ".join(lines))}</Description>
  </RegistrationInfo>
  <Triggers>
{chr(10).join(firing.expressions)}
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{escape(settings.user)}</UserId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>{limit}</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(argv[0])}</Command>
      <Arguments>{escape(subprocess.list2cmdline(argv[1:]))}</Arguments>
      <WorkingDirectory>{escape(settings.workdir)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""
