"""The policy file (``lethe.toml``) as pydantic models.

Top level::

    version = 1
    [state]        where lethe keeps runs, events and holds (default: .lethe/state.db)
    [run]          how ``lethe run`` behaves by default (dry run, log level)
    [health]       when ``lethe health`` says unhealthy (window, error threshold)
    [limits]       defaults for every policy: batch size, caps, circuit breaker, min_retain
    [stores.NAME]  connections, by URL (``${VAR}`` and ``${VAR:-default}`` expand)
    [datasets.NAME]  a table, its key, when rows are due, filters, cascade, hold table
    [policies.NAME]  a dataset and its phases (``[[policies.NAME.actions]]``), in order
    [[jobs]]       policies run on a cron schedule in a time zone (:mod:`lethe.config.jobs`)
    [scheduler]    leases and trigger tolerance;  [serve]  the HTTP service and its auth
    [deploy]       what ``lethe deploy`` needs besides the jobs (:mod:`lethe.config.deploy`)
    [evidence]     who issues evidence and what signs it (:mod:`lethe.config.evidence`)

The JSON Schema for editors is :func:`lethe.config.schema.json_schema`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lethe.actions import ACTIONS, Action
from lethe.config.datasets import DatasetConfig
from lethe.config.deploy import DeployConfig
from lethe.config.durations import Duration
from lethe.config.evidence import EvidenceConfig
from lethe.config.jobs import JobConfig, SchedulerConfig, ServeConfig
from lethe.config.types import DurationField, Identifier

__all__ = [
    "BreakerConfig",
    "HealthConfig",
    "LetheConfig",
    "LimitsConfig",
    "PolicyConfig",
    "PolicyLimits",
    "RecordsConfig",
    "RunConfig",
    "StateConfig",
    "StoreConfig",
]

#: The largest count a limit may give: counts are bound into SQL as 64-bit integers, and no
#: table lethe will meet holds more rows.
MAX_COUNT = 10**12

if TYPE_CHECKING:
    ActionSpec = Action
else:
    # Every registered phase type, told apart by its ``type`` key.
    ActionSpec = Annotated[Union[tuple(ACTIONS.values())], Field(discriminator="type")]  # noqa: UP007


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    """A connection. ``url`` is a SQLAlchemy URL; relative SQLite paths are taken from the
    policy file's directory. Passwords in it are never printed."""

    url: str


class RecordsConfig(_Strict):
    """Also keep each run record as ``<prefix><run id>.json`` in a blob store (DataPilot's
    ``CLEANER_AUDIT_BLOB_PATH``)."""

    store: Identifier
    prefix: str = Field(default="maintenance/cleaner_runs/", pattern=r"^[^/].*/$")


class StateConfig(_Strict):
    """Where lethe keeps its own runs, audit events and holds.

    ``url`` may point at the application's own database (tables are prefixed ``lethe_``).
    ``runs_dir`` receives one JSON file per run; set it to ``""`` to turn that off.
    ``records`` also writes each run record into a blob store.
    """

    url: str = "sqlite:///.lethe/state.db"
    runs_dir: str = ".lethe/runs"
    records: RecordsConfig | None = None


class RunConfig(_Strict):
    """How ``lethe run`` behaves when the command line does not say.

    ``dry_run = true`` makes every run a dry run unless ``--no-dry-run`` is given (like a
    cleanup job's ``CLEANER_DRY_RUN``, often on by default); ``log_level`` sets the level of the
    ``lethe`` logger (``CLEANER_LOG_LEVEL``).
    """

    dry_run: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class HealthConfig(_Strict):
    """``lethe health`` is unhealthy when a policy has no successful run within ``window``,
    or its last run had more than ``max_errors`` errors. Dry runs count as runs unless
    ``count_dry_runs = false``."""

    window: DurationField = Duration(seconds=48 * 3600)
    max_errors: int = Field(default=5, ge=0, le=MAX_COUNT)
    count_dry_runs: bool = True


class BreakerConfig(_Strict):
    """Refuse the whole run, before the first change, when it would remove too much of a table.

    With ``mode = "and"`` (default) both thresholds must be exceeded for one table, so a tiny
    table is not tripped by a handful of rows; with ``"or"`` either one trips it. Cascaded rows
    count toward their own table.

    ``first_run_max_rows``: until a real run of the policy has completed, a run removing more
    rows than this from one table is refused too (the backlog of a newly adopted policy is
    approved once: ``lethe approve``), whatever the other thresholds say.
    """

    enabled: bool = True
    max_rows: int = Field(default=10_000, ge=0, le=MAX_COUNT)
    max_percent: float = Field(default=50.0, ge=0, le=100)
    mode: Literal["and", "or"] = "and"
    first_run_max_rows: int | None = Field(default=None, ge=0, le=MAX_COUNT)


class LimitsConfig(_Strict):
    """Defaults for every policy."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    batch_seconds: float = Field(default=0.25, ge=0, le=60)
    max_deletions: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    breaker: BreakerConfig = BreakerConfig()
    min_retain: DurationField = Duration(seconds=3600)


class PolicyLimits(_Strict):
    """Per-policy overrides of :class:`LimitsConfig` (``min_retain`` is global only)."""

    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    batch_seconds: float | None = Field(default=None, ge=0, le=60)
    max_deletions: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    breaker: BreakerConfig | None = None


class PolicyConfig(_Strict):
    """A dataset and its phases, run in the order listed."""

    dataset: Identifier
    description: str = ""
    enabled: bool = True
    actions: list[ActionSpec] = Field(min_length=1)
    limits: PolicyLimits = PolicyLimits()


class LetheConfig(_Strict):
    """The whole policy file."""

    version: Literal[1] = 1
    state: StateConfig = StateConfig()
    run: RunConfig = RunConfig()
    health: HealthConfig = HealthConfig()
    limits: LimitsConfig = LimitsConfig()
    stores: dict[Identifier, StoreConfig] = Field(min_length=1)
    datasets: dict[Identifier, DatasetConfig] = Field(default_factory=dict)
    policies: dict[Identifier, PolicyConfig] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)
    scheduler: SchedulerConfig = SchedulerConfig()
    serve: ServeConfig = ServeConfig()
    deploy: DeployConfig = DeployConfig()
    evidence: EvidenceConfig = EvidenceConfig()

    @model_validator(mode="before")
    @classmethod
    def _single_store_default(cls, data: Any) -> Any:
        # A dataset may omit ``store`` when the file declares exactly one.
        if not isinstance(data, dict):
            return data
        stores, datasets = data.get("stores"), data.get("datasets")
        if isinstance(stores, dict) and len(stores) == 1 and isinstance(datasets, dict):
            only = next(iter(stores))
            data = {
                **data,
                "datasets": {
                    name: ({"store": only, **ds} if isinstance(ds, dict) else ds)
                    for name, ds in datasets.items()
                },
            }
        return data

    def job(self, name: str) -> JobConfig | None:
        """The job called ``name``, if any."""
        return next((job for job in self.jobs if job.name == name), None)

    def batch_size(self, policy: str) -> int:
        """The effective batch size of a policy."""
        return self.policies[policy].limits.batch_size or self.limits.batch_size

    def batch_seconds(self, policy: str) -> float:
        """The transaction time batches of a policy aim at (0: fixed batch_size)."""
        own = self.policies[policy].limits.batch_seconds
        return own if own is not None else self.limits.batch_seconds

    def max_deletions(self, policy: str) -> int | None:
        """The effective per-run cap of a policy (None: no cap)."""
        own = self.policies[policy].limits.max_deletions
        return own if own is not None else self.limits.max_deletions

    def breaker(self, policy: str) -> BreakerConfig:
        """The effective circuit breaker of a policy."""
        return self.policies[policy].limits.breaker or self.limits.breaker
