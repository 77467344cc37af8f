"""Heroku Scheduler's three frequencies, all in UTC: every 10 minutes, every hour at a
10-minute mark, every day at a half hour. Anything else is refused."""

from __future__ import annotations

from lethe.deploy.dialects.base import Unsupported
from lethe.deploy.fields import CronFields

__all__ = ["heroku_frequency"]

_TEN = frozenset(range(0, 60, 10))
REASON = (
    "Heroku Scheduler only runs every 10 minutes, hourly at :00/:10/…/:50 or daily at a "
    "half hour, in UTC"
)


def heroku_frequency(fields: CronFields) -> str:
    """The frequency to pick in Heroku's dashboard, or :class:`Unsupported`."""
    every_day = fields.dom.star and fields.month.star and fields.dow.star
    minutes, hours = fields.minute.values, fields.hour.values
    if every_day and fields.hour.every:
        if minutes == _TEN:
            return "Every 10 minutes"
        if len(minutes) == 1 and minutes <= _TEN:
            return f"Every hour at :{min(minutes):02d}"
    if every_day and len(hours) == 1 and len(minutes) == 1 and minutes <= {0, 30}:
        return f"Every day at {min(hours):02d}:{min(minutes):02d} UTC"
    raise Unsupported(REASON)
