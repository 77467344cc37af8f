"""systemd calendar events (``OnCalendar=``), one line per day rule, with the zone appended.

systemd ANDs the weekday with the date, as Debian cron does when a day field starts with ``*``;
when cron ORs them (both restricted) the timer gets two ``OnCalendar=`` lines, whose union is
the schedule. Ranges are written ``a..b``, steps ``start/step``.
"""

from __future__ import annotations

from lethe.deploy.dialects.base import compress
from lethe.deploy.fields import BOUNDS, CronField, CronFields

__all__ = ["on_calendar"]

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def on_calendar(fields: CronFields, zone: str) -> list[str]:
    """The ``OnCalendar=`` values whose union fires exactly at the schedule's slots."""
    time = f"{_part(fields.hour, 2)}:{_part(fields.minute, 2)}:00"
    month, dom = _part(fields.month, 2), _part(fields.dom, 2)
    weekdays = compress(fields.dow.sorted(), lambda v: _DAYS[v], dash="..")
    if fields.days_ored:
        return [f"*-{month}-{dom} {time} {zone}", f"{weekdays} *-{month}-* {time} {zone}"]
    prefix = "" if fields.dow.every else f"{weekdays} "
    return [f"{prefix}*-{month}-{dom} {time} {zone}"]


def _part(field: CronField, width: int) -> str:
    if field.star:
        return "*"
    if field.step is not None:
        return f"{BOUNDS[field.index][0]:0{width}d}/{field.step}"
    return compress(field.sorted(), lambda v: f"{v:0{width}d}", dash="..")
