"""AWS cron (EventBridge rules and EventBridge Scheduler): ``cron(min hour dom month dow year)``.

Six fields; Sunday is 1 (names are used instead, which cannot be misread); one of the day
fields must be ``?``, so a schedule restricting both (cron ORs them) becomes two AWS schedules
— the slot ledger absorbs a day matching both. Day-of-week takes no ``/`` step.
"""

from __future__ import annotations

from lethe.deploy.dialects.base import Unsupported, compress
from lethe.deploy.fields import BOUNDS, MONTH_NAMES, WEEKDAY_NAMES, CronField, CronFields

__all__ = ["aws_expressions"]


def aws_expressions(fields: CronFields) -> list[str]:
    """One or two ``cron(…)`` expressions firing exactly at the schedule's slots."""
    odd = fields.star_step_days
    if odd:
        raise Unsupported(
            f"AWS cannot AND day-of-month with day-of-week as Debian cron does for '{odd}'; "
            "write the days out"
        )
    head = f"{_plain(fields.minute)} {_plain(fields.hour)}"
    month = "*" if fields.month.star else compress(fields.month.sorted(), _month)
    dom = _plain(fields.dom)
    dow = compress(fields.dow.sorted(), lambda v: WEEKDAY_NAMES[v])
    by_month_day = f"cron({head} {dom} {month} ? *)"
    by_weekday = f"cron({head} ? {month} {dow} *)"
    if fields.days_ored:
        return [by_month_day, by_weekday]
    if not fields.dow.every:  # day-of-month is then '*' (a '*/n' beside it was refused)
        return [by_weekday]
    return [by_month_day]


def _plain(field: CronField) -> str:
    if field.star:
        return "*"
    if "/" in field.text and not any(c.isalpha() for c in field.text):
        # AWS's own examples write "0/15"; "*/15" is read the same, but not documented.
        return field.text.replace("*/", f"{BOUNDS[field.index][0]}/")
    return compress(field.sorted())


def _month(value: int) -> str:
    return MONTH_NAMES[value - 1]
