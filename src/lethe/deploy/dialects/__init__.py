"""Translators from lethe's canonical schedule (5-field cron + IANA zone) to each dialect.

One module per dialect; each either returns the exact equivalent or raises
:class:`Unsupported` with a one-line reason. None rounds a time or moves a zone.
"""

from lethe.deploy.dialects.aws import aws_expressions
from lethe.deploy.dialects.base import Unsupported
from lethe.deploy.dialects.cron import CronDialect
from lethe.deploy.dialects.heroku import heroku_frequency
from lethe.deploy.dialects.systemd import on_calendar
from lethe.deploy.dialects.windows import WindowsTrigger, windows_triggers

__all__ = [
    "CronDialect",
    "Unsupported",
    "WindowsTrigger",
    "aws_expressions",
    "heroku_frequency",
    "on_calendar",
    "windows_triggers",
]
