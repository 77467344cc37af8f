"""The deployment targets, one module each; importing this package registers them all."""

from lethe.deploy.targets import (
    cloud_scheduler,
    compose,
    crontab,
    eventbridge,
    github,
    heroku,
    kubernetes,
    northflank,
    pg_cron,
    systemd,
    windows,
)

__all__ = [
    "cloud_scheduler",
    "compose",
    "crontab",
    "eventbridge",
    "github",
    "heroku",
    "kubernetes",
    "northflank",
    "pg_cron",
    "systemd",
    "windows",
]
