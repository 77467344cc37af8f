"""The policy file (``lethe.toml``) as pydantic models.

Top level::

    version = 1
    [state]        where lethe keeps runs, events and holds (default: .lethe/state.db)
    [limits]       defaults for every policy: batch size, caps, circuit breaker, min_retain
    [stores.NAME]  connections, by URL (``${VAR}`` and ``${VAR:-default}`` expand)
    [datasets.NAME]  a table, its key, when rows are due, filters, cascade, hold table
    [policies.NAME]  a dataset and its phases (``[[policies.NAME.actions]]``), in order
    [[jobs]]       policies run on a cron schedule in a time zone (:mod:`lethe.config.jobs`)
    [scheduler]    leases and trigger tolerance;  [serve]  the HTTP service and its auth

The JSON Schema for editors is :func:`lethe.config.schema.json_schema`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.actions import ACTIONS, Action
from lethe.config.datasets import DatasetConfig
from lethe.config.durations import Duration
from lethe.config.jobs import JobConfig, SchedulerConfig, ServeConfig
from lethe.config.types import DurationField, Identifier

__all__ = [
    "BreakerConfig",
    "LetheConfig",
    "LimitsConfig",
    "PolicyConfig",
    "PolicyLimits",
    "StateConfig",
    "StoreConfig",
]

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


class StateConfig(_Strict):
    """Where lethe keeps its own runs, audit events and holds.

    ``url`` may point at the application's own database (tables are prefixed ``lethe_``).
    ``runs_dir`` receives one JSON file per run; set it to ``""`` to turn that off.
    """

    url: str = "sqlite:///.lethe/state.db"
    runs_dir: str = ".lethe/runs"


class BreakerConfig(_Strict):
    """Refuse the whole run, before the first change, when it would remove too much of a table.

    With ``mode = "and"`` (default) both thresholds must be exceeded for one table, so a tiny
    table is not tripped by a handful of rows; with ``"or"`` either one trips it. Cascaded rows
    count toward their own table.
    """

    enabled: bool = True
    max_rows: int = Field(default=10_000, ge=0)
    max_percent: float = Field(default=50.0, ge=0, le=100)
    mode: Literal["and", "or"] = "and"


class LimitsConfig(_Strict):
    """Defaults for every policy."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_deletions: int | None = Field(default=None, ge=0)
    breaker: BreakerConfig = BreakerConfig()
    min_retain: DurationField = Duration(seconds=3600)


class PolicyLimits(_Strict):
    """Per-policy overrides of :class:`LimitsConfig` (``min_retain`` is global only)."""

    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    max_deletions: int | None = Field(default=None, ge=0)
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
    limits: LimitsConfig = LimitsConfig()
    stores: dict[Identifier, StoreConfig] = Field(min_length=1)
    datasets: dict[Identifier, DatasetConfig] = Field(default_factory=dict)
    policies: dict[Identifier, PolicyConfig] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)
    scheduler: SchedulerConfig = SchedulerConfig()
    serve: ServeConfig = ServeConfig()

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

    def max_deletions(self, policy: str) -> int | None:
        """The effective per-run cap of a policy (None: no cap)."""
        own = self.policies[policy].limits.max_deletions
        return own if own is not None else self.limits.max_deletions

    def breaker(self, policy: str) -> BreakerConfig:
        """The effective circuit breaker of a policy."""
        return self.policies[policy].limits.breaker or self.limits.breaker
