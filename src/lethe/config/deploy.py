"""``[deploy]``: what ``lethe deploy TARGET`` needs besides the ``[[jobs]]`` themselves.

Every key has a default, so ``lethe deploy crontab`` works on a file without ``[deploy]``.
Secrets never go here: artifacts *reference* them (a Kubernetes Secret, GitHub's
``${{ secrets.X }}``, an env file on the host, a database setting), by the names of the
environment variables the policy file reads::

    [deploy]
    project = "census"                       # prefix of generated names
    image = "ghcr.io/eatyourpeas/census:latest"
    command = ["lethe"]                      # how lethe is started where the job runs
    config = "/app/lethe.toml"               # the policy file there ("": the command knows it,
                                             # as `python manage.py lethe` does from settings)

    [deploy.kubernetes]
    namespace = "census"

    [deploy.cloud-scheduler]
    stages = ["dev", "prod"]
    url = "https://validibot-worker-{stage}.example.run.app"
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lethe.config.types import Identifier

__all__ = [
    "CloudSchedulerSettings",
    "ComposeSettings",
    "CrontabSettings",
    "DeployConfig",
    "EventBridgeSettings",
    "GitHubActionsSettings",
    "HerokuSettings",
    "KubernetesSettings",
    "NorthflankSettings",
    "PgCronSettings",
    "SystemdSettings",
    "WindowsSettings",
]

_Zone = str  # an IANA name, checked when a job is translated


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KubernetesSettings(_Strict):
    """A ``batch/v1`` CronJob per job; secrets come from ``envFrom`` a Secret, by name."""

    namespace: str | None = None
    config_map: str | None = None  # default: "<project>-config"
    secret: str | None = None  # default: "<project>-secrets"
    service_account: str | None = None
    restart_policy: Literal["OnFailure", "Never"] = "Never"
    backoff_limit: int = Field(default=0, ge=0, le=10)
    starting_deadline_seconds: int = Field(default=300, ge=10)
    history: int = Field(default=3, ge=0, le=100)
    requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: dict[str, str] = Field(default_factory=lambda: {"cpu": "500m", "memory": "512Mi"})


class CrontabSettings(_Strict):
    """An ``/etc/cron.d`` file and a wrapper script (``flock``, a log, the exit code).

    Debian cron runs every line in the machine's time zone: ``timezone`` says which that is.
    ``exec`` prefixes the lethe command (``["docker", "compose", "exec", "-T", "web"]``).
    """

    timezone: _Zone = "UTC"
    user: str = "root"
    workdir: str = "/"
    exec: list[str] = Field(default_factory=list)
    wrapper: str | None = None  # default: "/usr/local/bin/lethe-<project>-job"
    log_dir: str = "/var/log/lethe"
    env_file: str | None = None  # default: "/etc/lethe/<project>.env"


class SystemdSettings(_Strict):
    """A oneshot service and a timer per job (``Persistent=true``; jitter as
    ``RandomizedDelaySec``; the job's timeout as ``TimeoutStartSec``)."""

    user: str | None = None
    workdir: str | None = None
    env_file: str | None = None  # default: "/etc/lethe/<project>.env"


class ComposeSettings(_Strict):
    """A ``lethe scheduler`` service for Docker Compose: lethe's own scheduler, so every
    schedule and zone is exact and nothing is translated."""

    service: str = "lethe-scheduler"
    env_file: str = ".env"
    config_mount: str | None = None  # a host path mounted read-only at ``[deploy].config``


class GitHubActionsSettings(_Strict):
    """A workflow per job: ``schedule`` (with ``timezone:`` when the zone is not UTC) and
    ``workflow_dispatch``.

    ``mode = "command"`` installs lethe on the runner and runs ``lethe tick JOB`` with the
    policy file's environment from repository secrets; ``"http"`` POSTs to ``lethe serve``
    at ``url`` with ``${{ secrets.<token_secret> }}`` as the bearer token.
    """

    mode: Literal["command", "http"] = "command"
    install: str = "pip install lethe-retention"
    python: str = "3.12"
    url: str | None = None
    token_secret: str = "LETHE_TRIGGER_TOKEN"
    runs_on: str = "ubuntu-latest"


class CloudSchedulerSettings(_Strict):
    """Cloud Scheduler HTTP jobs with OIDC tokens calling ``lethe serve``, per stage.

    ``url`` and ``service_account`` may contain ``{stage}``. Names are
    ``<project>-<job>-<stage>``, except for ``unsuffixed_stage``.
    """

    project_id: str = "PROJECT_ID"
    location: str = "us-central1"
    stages: list[Identifier] = Field(default_factory=lambda: ["prod"], min_length=1)
    unsuffixed_stage: str | None = "prod"
    url: str = "https://lethe-worker-{stage}.example.run.app"
    service_account: str = "lethe-scheduler@PROJECT_ID.iam.gserviceaccount.com"
    audience: str | None = None  # default: the url
    attempt_deadline: str = "180s"
    retries: int = Field(default=3, ge=0, le=5)


class EventBridgeSettings(_Strict):
    """EventBridge Scheduler (any zone) or EventBridge rules (UTC only) running an ECS task
    with ``lethe tick JOB`` as the container command. The defaults are well-formed
    placeholders (account 123456789012): replace them."""

    api: Literal["scheduler", "rules"] = "scheduler"
    cluster_arn: str = "arn:aws:ecs:us-east-1:123456789012:cluster/app"
    task_definition_arn: str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app"
    role_arn: str = "arn:aws:iam::123456789012:role/lethe-scheduler"
    container: str = "app"
    subnets: list[str] = Field(default_factory=lambda: ["subnet-00000000"])
    security_groups: list[str] = Field(default_factory=lambda: ["sg-00000000"])
    assign_public_ip: bool = False


class HerokuSettings(_Strict):
    """Heroku Scheduler entries to paste (it has no API): every 10 minutes, hourly at a
    10-minute mark, or daily at a half hour, all in UTC."""

    dyno_size: str = "Basic"


class NorthflankSettings(_Strict):
    """A Northflank cron job per job (API JSON). Secrets come from the project's secret groups."""

    plan: str = "nf-compute-20"


class PgCronSettings(_Strict):
    """pg_cron SQL calling ``lethe serve`` through pg_net.

    pg_cron before 1.5 reads schedules in GMT; from 1.5 in its one ``cron.timezone``, given
    here as ``timezone``. ``token_sql`` is an SQL expression yielding the bearer token, so the
    token itself stays in the database (a setting, or Supabase Vault).
    """

    version: str = "1.4"
    timezone: _Zone = "UTC"
    url: str = "https://lethe.example.com"
    token_sql: str = "current_setting('lethe.trigger_token')"

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ValueError("version is pg_cron's version, such as '1.4' or '1.6.4'")
        return value


class WindowsSettings(_Strict):
    """Task Scheduler XML (UTF-16LE with BOM). Triggers are in the machine's time zone,
    given here as ``timezone``."""

    timezone: _Zone = "UTC"
    workdir: str = "C:\\lethe"
    user: str = "S-1-5-18"  # SYSTEM; a domain account needs its password at import


class DeployConfig(_Strict):
    """Shared deployment facts and one table per target."""

    project: Identifier | None = None  # default: the policy file's directory name
    image: str = "ghcr.io/example/app:latest"
    command: list[str] = Field(default_factory=lambda: ["lethe"], min_length=1)
    config: str = "lethe.toml"
    #: environment variables the jobs read besides the file's ``${VAR}`` references (a
    #: sender's EMAIL_HOST_PASSWORD, AWS credentials): passed by name, like those
    env: list[str] = Field(default_factory=list)
    kubernetes: KubernetesSettings = KubernetesSettings()
    crontab: CrontabSettings = CrontabSettings()
    systemd: SystemdSettings = SystemdSettings()
    compose: ComposeSettings = ComposeSettings()
    github_actions: GitHubActionsSettings = Field(
        default=GitHubActionsSettings(), alias="github-actions"
    )
    cloud_scheduler: CloudSchedulerSettings = Field(
        default=CloudSchedulerSettings(), alias="cloud-scheduler"
    )
    eventbridge: EventBridgeSettings = EventBridgeSettings()
    heroku: HerokuSettings = HerokuSettings()
    northflank: NorthflankSettings = NorthflankSettings()
    pg_cron: PgCronSettings = Field(default=PgCronSettings(), alias="pg-cron")
    windows: WindowsSettings = WindowsSettings()

    @model_validator(mode="after")
    def _mount_needs_a_path(self) -> DeployConfig:
        if self.compose.config_mount and not self.config:
            raise ValueError(
                'compose.config_mount mounts the file at `config`, which is "" (name the path)'
            )
        return self
