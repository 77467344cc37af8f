"""Planning: what each phase would do now, computed with reads only.

:func:`plan` lists exact keys (``lethe plan``, dry runs, plan files). :func:`estimate` only
counts, in the database, so that the circuit breaker can judge a run of any size before its
first change without holding millions of keys in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lethe.actions.external import ExternalAction
from lethe.engine.decisions import breaker_verdict, partition
from lethe.engine.external import plan_external
from lethe.engine.runtime import Runtime, Target
from lethe.model.plan import PhasePlan, Plan

__all__ = ["Estimate", "estimate", "plan", "plan_target", "removed_rows", "trip_reason"]


def _cap_left(cap: int | None, used: int) -> int | None:
    return None if cap is None else max(0, cap - used)


def plan_target(rt: Runtime, target: Target, as_of: datetime) -> list[PhasePlan]:
    """The exact plan of one policy's phases."""
    registry = rt.holds.active_keys(target.dataset)
    cap = rt.config.max_deletions(target.policy)
    used = 0
    phases: list[PhasePlan] = []
    for index, action in enumerate(target.actions):
        if isinstance(action, ExternalAction):
            phases.append(plan_external(rt, target, index, as_of))
            continue
        items = list(target.handle.iter_select(target.selection(index, as_of)))
        blocked = target.blocked(index, [i.key for i in items if not i.held], as_of)
        limit = _cap_left(cap, used) if action.destructive else None
        split = partition(items, registry, blocked, limit)
        if action.destructive:
            used += len(split.act)
        cascade = target.handle.cascade_counts(split.act) if action.cascades else {}
        phases.append(
            PhasePlan(
                policy=target.policy,
                dataset=target.dataset,
                table=target.handle.table,
                phase=index,
                action=action.type,
                label=action.label,
                keys=split.act,
                held=split.held,
                blocked=split.blocked,
                capped=split.capped,
                cascade=cascade,
                destructive=action.destructive,
                unreadable=split.unreadable,
            )
        )
    return phases


def plan(rt: Runtime, targets: Sequence[Target], as_of: datetime) -> Plan:
    """The exact plan of several policies at ``as_of``."""
    phases = [phase for target in targets for phase in plan_target(rt, target, as_of)]
    return Plan(as_of=as_of, config_hash=rt.settings.hash, phases=tuple(phases))


@dataclass(frozen=True)
class Estimate:
    """Counts for one phase, without keys."""

    phase: int
    table: str
    acting: int
    held: int
    capped: int
    cascade: dict[str, int]
    destructive: bool

    @property
    def rows_by_table(self) -> dict[str, int]:
        rows = dict(self.cascade)
        rows[self.table] = rows.get(self.table, 0) + self.acting
        return rows


def estimate(rt: Runtime, target: Target, as_of: datetime) -> list[Estimate]:
    """Counts only (no keys): eligible, held, capped and cascaded rows per phase."""
    handle = target.handle
    registry = [handle.parse_key(k) for k in rt.holds.active_keys(target.dataset)]
    cap = rt.config.max_deletions(target.policy)
    used = 0
    estimates: list[Estimate] = []
    for index, action in enumerate(target.actions):
        selection = target.selection(index, as_of)
        eligible, held = handle.count(selection, exclude=registry)
        limit = _cap_left(cap, used) if action.destructive else None
        acting = eligible if limit is None else min(eligible, limit)
        if action.destructive:
            used += acting
        cascade = (
            handle.cascade_counts_where(selection, exclude=registry, limit=acting)
            if action.cascades and acting
            else {}
        )
        estimates.append(
            Estimate(
                index, handle.table, acting, held, eligible - acting, cascade, action.destructive
            )
        )
    return estimates


def removed_rows(phases: Sequence[Estimate] | Sequence[PhasePlan]) -> dict[str, int]:
    """Rows the destructive phases remove (or blank) per table, cascades included."""
    rows: dict[str, int] = {}
    for phase in phases:
        if phase.destructive:
            for table, count in phase.rows_by_table.items():
                rows[table] = rows.get(table, 0) + count
    return rows


def trip_reason(rt: Runtime, target: Target, rows: dict[str, int]) -> str | None:
    """The circuit breaker's verdict on one policy's removals, or None when they may go ahead."""
    breaker = rt.config.breaker(target.policy)
    if not breaker.enabled or not any(rows.values()):
        return None
    return breaker_verdict(rows, target.handle.table_sizes(), breaker)
