"""Planning: what each phase would do now, computed with reads only.

:func:`plan` lists exact keys (``lethe plan``, dry runs, plan files).
:func:`counted_removals` only counts, in the database, so that the circuit breaker
(:class:`Breaker`) can judge a run of any size before its first change without holding
millions of keys in memory, and stops counting once its verdict is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import datetime

from lethe.actions.external import ExternalAction
from lethe.engine.decisions import Partition, breaker_verdict, first_run_verdict, partition
from lethe.engine.external import plan_external
from lethe.engine.partition_drops import PartitionDropper, partition_line
from lethe.engine.runtime import Runtime, Target
from lethe.model.keys import ItemKey, key_text
from lethe.model.plan import PhasePlan, Plan
from lethe.stores.base import Item

__all__ = ["Breaker", "counted_removals", "plan", "plan_target", "removed_rows", "trip_reason"]


def _cap_left(cap: int | None, used: int) -> int | None:
    return None if cap is None else max(0, cap - used)


def plan_target(
    rt: Runtime,
    target: Target,
    as_of: datetime,
    planned: Plan | None = None,
    drift: dict[str, int] | None = None,
) -> list[PhasePlan]:
    """The exact plan of one policy's phases.

    With ``planned`` (a dry run of ``run --plan``), each phase keeps only its planned items
    that are still selected, as the real run's locks would, ignores the cap (the plan was
    capped when it was made) and adds the drift to ``drift``.
    """
    registry = rt.holds.active_keys(target.dataset)
    cap = None if planned is not None else rt.config.max_deletions(target.policy)
    used = 0
    phases: list[PhasePlan] = []
    for index, action in enumerate(target.actions):
        wanted = _wanted(planned, target.policy, index)
        if isinstance(action, ExternalAction):
            phases.append(plan_external(rt, target, index, as_of, wanted))
            continue
        items = list(target.handle.iter_select(target.selection(index, as_of)))
        if wanted is not None:
            items = _drift(items, wanted, registry, drift if drift is not None else {})
        blocked = target.blocked(index, [i.key for i in items if not i.held], as_of)
        limit = _cap_left(cap, used) if action.destructive else None
        split = partition(items, registry, blocked, None if action.cascades else limit)
        cascade: dict[str, int] = {}
        updated: dict[str, int] = {}
        if action.cascades:
            split, cascade, updated = _previewed(rt, target, split, limit)
        if action.destructive:
            used += len(split.act)
        whole = _whole(rt, target, index, as_of, limit, wanted is not None)
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
                updated=updated,
                destructive=action.destructive,
                unreadable=split.unreadable,
                details={"partitions": whole} if whole else {},
            )
        )
    return phases


def _whole(
    rt: Runtime, target: Target, index: int, as_of: datetime, cap_left: int | None, planned: bool
) -> list[dict[str, object]]:
    """The partitions the phase would drop whole (``run --plan`` drops none: it deletes
    exactly its planned items, row by row)."""
    if planned:
        return []
    dropper = PartitionDropper(rt, target, index, target.selection(index, as_of))
    return [partition_line(p) for p in dropper.candidates(cap_left)]


def _previewed(
    rt: Runtime, target: Target, split: Partition, limit: int | None
) -> tuple[Partition, dict[str, int], dict[str, int]]:
    """A purge's items judged as its batches would judge them: those a referencing row
    blocks are left out (not counting toward the cap), the rest counted with their cascade."""
    if not split.act:
        return split, {}, {}
    preview = target.handle.preview_delete(
        split.act, batch_size=rt.config.batch_size(target.policy), held=target.held_keys
    )
    act: list[ItemKey] = []
    blocked = dict(split.blocked)
    capped = 0
    for key in split.act:
        text = key_text(key)
        if limit is not None and len(act) >= limit:
            capped += 1
        elif text in preview.blocked:
            blocked[text] = preview.blocked[text]
        else:
            act.append(key)
    cascade: dict[str, int] = {}
    updated: dict[str, int] = {}
    for key in act:
        text = key_text(key)
        for table, rows in preview.per_item.get(text, {}).items():
            cascade[table] = cascade.get(table, 0) + rows
        for table, keys in preview.updated_keys.get(text, {}).items():
            updated[table] = updated.get(table, 0) + len(keys)
    kept = replace(split, act=tuple(act), blocked=blocked, capped=split.capped + capped)
    return kept, cascade, updated


def _wanted(planned: Plan | None, policy: str, index: int) -> set[str] | None:
    """The keys ``planned`` names for one phase (none when the phase was not planned)."""
    if planned is None:
        return None
    phase = planned.phase(policy, index)
    return {key_text(k) for k in phase.keys} if phase else set()


def _drift(
    items: list[Item], wanted: set[str], registry: AbstractSet[str], drift: dict[str, int]
) -> list[Item]:
    """The selected items that were planned; counts the drift as ``run --plan`` reports it."""
    kept = [item for item in items if key_text(item.key) in wanted]
    newly_due = sum(1 for item in items if not item.held and key_text(item.key) not in wanted)
    counts = {
        "planned": len(wanted),
        "no_longer_due": len(wanted) - len(kept),
        "now_held": sum(1 for i in kept if i.held or key_text(i.key) in registry),
        "newly_due_not_planned": newly_due,
    }
    for name, count in counts.items():
        drift[name] = drift.get(name, 0) + count
    return kept


def plan(
    rt: Runtime,
    targets: Sequence[Target],
    as_of: datetime,
    planned: Plan | None = None,
    drift: dict[str, int] | None = None,
) -> Plan:
    """The exact plan of several policies at ``as_of`` (restricted to ``planned``, if given:
    see :func:`plan_target`)."""
    phases = [
        phase for target in targets for phase in plan_target(rt, target, as_of, planned, drift)
    ]
    return Plan(as_of=as_of, config_hash=rt.settings.hash, phases=tuple(phases))


def counted_removals(
    rt: Runtime,
    target: Target,
    as_of: datetime,
    enough: Callable[[Mapping[str, int]], bool] | None = None,
) -> tuple[dict[str, int], bool]:
    """Rows the destructive phases would remove per table (cascades and ``max_deletions``
    included), counted in the store without keys, step by step (see
    :meth:`~lethe.stores.base.DatasetHandle.removal_counts`).

    With ``enough``, counting stops at the first step after which it holds; the second value
    then says the counts are partial (a lower bound: every step only adds rows). ``enough``
    must be monotone — true of some counts, true of any larger ones — as the breaker's
    thresholds are.
    """
    handle = target.handle
    registry = [handle.parse_key(k) for k in rt.holds.active_keys(target.dataset)]
    cap = rt.config.max_deletions(target.policy)
    used = 0
    rows: dict[str, int] = {}
    for index, action in enumerate(target.actions):
        if not action.destructive:
            continue
        steps = handle.removal_counts(
            target.selection(index, as_of),
            exclude=registry,
            limit=_cap_left(cap, used),
            cascades=action.cascades,
        )
        last_phase = not any(a.destructive for a in target.actions[index + 1 :])
        for step in steps:
            used += step.items
            for table, count in step.rows.items():
                rows[table] = rows.get(table, 0) + count
            if enough is not None and enough(rows):
                partial = not (step.last and last_phase)
                if hasattr(steps, "close"):
                    steps.close()
                return rows, partial
    return rows, False


def removed_rows(phases: Sequence[PhasePlan]) -> dict[str, int]:
    """Rows the destructive phases remove (or blank) per table, cascades included."""
    rows: dict[str, int] = {}
    for phase in phases:
        if phase.destructive:
            for table, count in phase.rows_by_table.items():
                rows[table] = rows.get(table, 0) + count
    return rows


class Breaker:
    """One policy's circuit breaker: its thresholds, with the table sizes it divides by and
    whether the policy has completed a run read once, however often it is asked."""

    def __init__(self, rt: Runtime, target: Target) -> None:
        self.rt = rt
        self.target = target
        self.config = rt.config.breaker(target.policy)
        self._sizes: dict[str, int] | None = None
        self._completed: bool | None = None

    def reason(self, rows: Mapping[str, int], *, at_least: bool = False) -> str | None:
        """Why the breaker refuses these removals (``at_least``: the counts are a lower
        bound), or None when they may go ahead (a policy's first real run is also held to
        ``first_run_max_rows``)."""
        if not self.config.enabled or not any(rows.values()):
            return None
        if self._sizes is None:
            self._sizes = self.target.handle.table_sizes()
        verdict = breaker_verdict(rows, self._sizes, self.config, at_least=at_least)
        limit = self.config.first_run_max_rows
        if verdict is None and limit is not None:
            first = first_run_verdict(rows, limit, at_least=at_least)
            if first and self._completed is None:
                self._completed = self.rt.runs.completed(self.target.policy)
            if first and not self._completed:
                return first
        return verdict

    def judge(self, as_of: datetime) -> str | None:
        """The verdict on a run at ``as_of``, counting only until it is known."""
        rows, partial = counted_removals(
            self.rt, self.target, as_of, lambda r: self.reason(r) is not None
        )
        return self.reason(rows, at_least=partial)


def trip_reason(rt: Runtime, target: Target, rows: dict[str, int]) -> str | None:
    """The circuit breaker's verdict on one policy's removals, or None when they may go ahead
    (a policy's first real run is also held to ``first_run_max_rows``)."""
    return Breaker(rt, target).reason(rows)
