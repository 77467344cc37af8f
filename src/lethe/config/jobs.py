"""``[[jobs]]``, ``[scheduler]`` and ``[serve]``: policies run on a schedule, and how.

::

    [[jobs]]
    name = "clear-sessions"
    schedule = "0 2 * * *"          # 5-field cron, or @hourly / @daily / @weekly / …
    timezone = "Australia/Sydney"   # IANA name; default UTC
    policies = ["clear-sessions"]

    [scheduler]                     # leases and trigger tolerance, for every runner
    [serve]                         # the HTTP service: worker flag and authentication
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lethe import secrets
from lethe.config.durations import Duration
from lethe.config.types import DurationField, Identifier
from lethe.errors import ConfigError
from lethe.schedule.cron import Schedule
from lethe.schedule.decide import Rules

__all__ = [
    "JobConfig",
    "OIDCConfig",
    "SchedulerConfig",
    "ServeConfig",
    "check_jobs",
    "fixed",
    "job_warnings",
]

_MIN_TOKEN = 16


def fixed(duration: Duration) -> timedelta:
    """A duration without months as a ``timedelta`` (job timings are fixed spans)."""
    return timedelta(seconds=duration.seconds)


def _no_months(value: Duration) -> Duration:
    if value.months:
        raise ValueError(f"{value} counts months; use s, m, h, d or w here")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobConfig(_Strict):
    """One job: policies run at the slots of a cron schedule in a time zone."""

    name: Identifier
    description: str = ""
    timezone: str = "UTC"
    schedule: str
    policies: list[Identifier] = Field(min_length=1)
    timeout: DurationField | None = None
    overlap: Literal["skip", "buffer_one"] = "skip"
    catch_up: DurationField = Duration(seconds=48 * 3600)
    jitter: DurationField = Duration()
    paused: bool = False
    retries: int = Field(default=0, ge=0, le=10)
    backoff: DurationField = Duration(seconds=60)
    alert_after: DurationField | None = None
    ping: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        Schedule("* * * * *", value).tz  # noqa: B018 - raises ValueError for an unknown zone
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        Schedule.parse(value)  # the zone is checked on its own; slots per zone come later
        return value

    @field_validator("timeout", "catch_up", "jitter", "backoff", "alert_after")
    @classmethod
    def _fixed_span(cls, value: Duration | None) -> Duration | None:
        return None if value is None else _no_months(value)

    @field_validator("ping")
    @classmethod
    def _ping_url(cls, value: str | None) -> str | None:
        secrets.register(value)  # a ping URL is a capability: whoever has it can ping
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("ping is an http(s) URL (Healthchecks-style: start, success, fail)")
        return value

    @property
    def cron(self) -> Schedule:
        """The schedule in the job's time zone."""
        return Schedule.parse(self.schedule, self.timezone)

    def rules(self, early: timedelta = timedelta(0)) -> Rules:
        """The timing rules the ledger verdict uses."""
        return Rules(
            schedule=self.cron,
            catch_up=fixed(self.catch_up),
            early=early,
            overlap=self.overlap,
            retries=self.retries,
            backoff=fixed(self.backoff),
        )


class SchedulerConfig(_Strict):
    """How runners share the slot ledger.

    ``lease``: a run whose heartbeat has not renewed its lease for this long is taken as dead
    (its slot may be retried); ``early``: a trigger this much ahead of a slot counts as that
    slot (clock skew); ``poll``: the daemon's longest sleep; ``workers``: jobs run at once.
    """

    lease: DurationField = Duration(seconds=120)
    early: DurationField = Duration(seconds=60)
    poll: DurationField = Duration(seconds=30)
    workers: int = Field(default=4, ge=1, le=64)

    @field_validator("lease", "early", "poll")
    @classmethod
    def _fixed_span(cls, value: Duration) -> Duration:
        return _no_months(value)

    @field_validator("lease")
    @classmethod
    def _long_enough(cls, value: Duration) -> Duration:
        if value.seconds < 10:
            raise ValueError("lease must be at least 10s (heartbeats renew it 4 times per lease)")
        return value


class OIDCConfig(_Strict):
    """OIDC ID tokens (Cloud Scheduler, GitHub Actions, …) verified against a JWKS."""

    issuer: str = "https://accounts.google.com"
    audience: str = Field(min_length=1)
    allowed_emails: list[str] = Field(min_length=1)
    #: Identities that may also call the admin endpoints (``/approvals``); they need not be
    #: repeated in ``allowed_emails``.
    admin_emails: list[str] = Field(default_factory=list)
    jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    jwks_cache: DurationField = Duration(seconds=3600)
    leeway: DurationField = Duration(seconds=30)

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
            return value
        raise ValueError("jwks_url must be https (plain http only on loopback)")


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class ServeConfig(_Strict):
    """``lethe serve``: which endpoints exist and who may call them.

    Trigger and status endpoints need a static bearer token (``bearer_tokens``, normally
    ``["${LETHE_TRIGGER_TOKEN}"]``; empty values are ignored) or an OIDC ID token. The admin
    endpoints (``/approvals``) need an admin credential: one of ``admin_tokens`` (normally
    ``["${LETHE_ADMIN_TOKEN}"]``, also accepted everywhere else) or an OIDC identity in
    ``[serve.oidc] admin_emails``. With ``worker = false`` the trigger endpoints answer 404
    (a web instance, not a worker).
    """

    worker: bool = True
    bearer_tokens: list[SecretStr] = Field(default_factory=list)
    admin_tokens: list[SecretStr] = Field(default_factory=list)
    oidc: OIDCConfig | None = None
    allow_unauthenticated: bool = False

    @field_validator("bearer_tokens", "admin_tokens", mode="before")
    @classmethod
    def _secret(cls, value: object) -> object:
        # Registered before anything can echo them, in an error message or elsewhere.
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                secrets.register(item)
        return value

    @field_validator("bearer_tokens", "admin_tokens")
    @classmethod
    def _strong(cls, values: list[SecretStr]) -> list[SecretStr]:
        kept = [v for v in values if v.get_secret_value()]
        if any(len(v.get_secret_value()) < _MIN_TOKEN for v in kept):
            raise ValueError(f"a bearer token must be at least {_MIN_TOKEN} characters")
        return kept

    @model_validator(mode="after")
    def _some_auth(self) -> ServeConfig:
        if self.allow_unauthenticated and (self.bearer_tokens or self.admin_tokens or self.oidc):
            raise ValueError(
                "allow_unauthenticated contradicts bearer_tokens / admin_tokens / oidc; pick one"
            )
        admins = {t.get_secret_value() for t in self.admin_tokens}
        if any(t.get_secret_value() in admins for t in self.bearer_tokens):
            raise ValueError("a token is both in bearer_tokens and admin_tokens; give it once")
        return self


def check_jobs(jobs: list[JobConfig], policies: set[str], source: str) -> None:
    """Job names are unique and every policy a job names exists."""
    seen: set[str] = set()
    for index, job in enumerate(jobs):
        if job.name in seen:
            raise ConfigError(f"duplicate job name {job.name!r}", f"{source}: jobs[{index}].name")
        seen.add(job.name)
        for policy in job.policies:
            if policy not in policies:
                known = ", ".join(sorted(policies)) or "none"
                raise ConfigError(
                    f"unknown policy {policy!r} (policies: {known})",
                    f"{source}: jobs[{index}].policies",
                )


def job_warnings(jobs: list[JobConfig], source: str) -> list[str]:
    """Schedules that load but often surprise people, one line each."""
    return [
        f"{source}: jobs[{index}].schedule: {warning}"
        for index, job in enumerate(jobs)
        for warning in job.cron.warnings()
    ]
