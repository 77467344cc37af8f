"""Checks across sections of a policy file that no single model can make (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from lethe.actions import PhaseContext
from lethe.actions.soft_delete import SoftDelete
from lethe.config.jobs import check_jobs
from lethe.config.model import LetheConfig, PolicyConfig
from lethe.errors import ConfigError
from lethe.model.conditions import columns_of

__all__ = ["cross_check", "phase_context"]

# Any instant will do: the checks only look at which columns a selection reads.
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def phase_context(config: LetheConfig, policy_name: str, as_of: datetime) -> PhaseContext:
    """The context a policy's phases select and act in at ``as_of``."""
    policy = config.policies[policy_name]
    dataset = config.datasets[policy.dataset]
    soft = next((a for a in policy.actions if isinstance(a, SoftDelete)), None)
    return PhaseContext(
        policy=policy_name,
        dataset=policy.dataset,
        as_of=as_of,
        due=dataset.due(as_of),
        soft_delete_column=soft.column if soft else None,
        due_at=dataset.due,
    )


def cross_check(config: LetheConfig, source: str) -> None:
    """Raise :class:`ConfigError` for the first reference or rule the file breaks."""
    for name, dataset in config.datasets.items():
        where = f"{source}: datasets.{name}.store"
        if dataset.store is None:
            raise ConfigError(
                f"several stores are declared ({', '.join(config.stores)}); say which one", where
            )
        if dataset.store not in config.stores:
            raise ConfigError(f"unknown store {dataset.store!r}", where)
        _check_links(config, name, source)
    records = config.state.records
    if records is not None and records.store not in config.stores:
        raise ConfigError(f"unknown store {records.store!r}", f"{source}: state.records.store")
    for name, policy in config.policies.items():
        if policy.dataset not in config.datasets:
            raise ConfigError(
                f"unknown dataset {policy.dataset!r}", f"{source}: policies.{name}.dataset"
            )
        _check_min_retain(config, name, policy, source)
        _check_phases(config, name, policy, source)
        _check_purge_only(config, name, policy, source)
    check_jobs(config.jobs, set(config.policies), source)


def _check_links(config: LetheConfig, name: str, source: str) -> None:
    for index, link in enumerate(config.datasets[name].links):
        where = f"{source}: datasets.{name}.links[{index}].dataset"
        linked = config.datasets.get(link.dataset)
        if linked is None:
            raise ConfigError(f"unknown dataset {link.dataset!r}", where)
        if linked.kind == "table":
            raise ConfigError("a link names a blob or Redis dataset (tables cascade)", where)


def _check_purge_only(config: LetheConfig, name: str, policy: PolicyConfig, source: str) -> None:
    # Objects and Redis keys are deleted, never changed in place.
    if config.datasets[policy.dataset].kind == "table":
        return
    for index, action in enumerate(policy.actions):
        if action.writes():
            raise ConfigError(
                f"{action.type} changes items in place; a blob or Redis dataset can only be purged",
                f"{source}: policies.{name}.actions[{index}]",
            )


def _check_min_retain(config: LetheConfig, name: str, policy: PolicyConfig, source: str) -> None:
    dataset = config.datasets[policy.dataset]
    floor = config.limits.min_retain
    if dataset.retain is None or not any(a.destructive for a in policy.actions):
        return
    if dataset.retain.shortest < floor.shortest:
        raise ConfigError(
            f"retention {dataset.retain} is below min_retain {floor} for policy {name!r}; "
            "raise retain or lower limits.min_retain",
            f"{source}: datasets.{policy.dataset}.retain",
        )


def _check_phases(config: LetheConfig, name: str, policy: PolicyConfig, source: str) -> None:
    ctx = phase_context(config, name, _PROBE)
    dataset = config.datasets[policy.dataset]
    filter_columns = columns_of(dataset.filters(_PROBE))
    for index, action in enumerate(policy.actions):
        where = f"{source}: policies.{name}.actions[{index}]"
        if action.once_per_policy and any(
            type(other) is type(action) for other in policy.actions[:index]
        ):
            raise ConfigError(f"a policy has at most one {action.type} phase", where)
        try:
            selection = action.selection(ctx)
        except ValueError as exc:
            raise ConfigError(str(exc), where) from exc
        # Phases are planned against the state before the run, so a phase must not read what
        # an earlier phase of the same policy writes, or the plan and the run would differ.
        for earlier_index, earlier in enumerate(policy.actions[:index]):
            clash = earlier.writes() & (columns_of(selection) - action.reads_before_run(ctx))
            clash |= earlier.writes() & filter_columns
            if clash:
                raise ConfigError(
                    f"reads {', '.join(sorted(clash))}, which phase [{earlier_index}] "
                    f"({earlier.type}) writes; split them into two policies",
                    where,
                )
