"""Planning: what each phase would do now, computed with reads only.

:func:`plan` lists exact keys (``lethe plan``, dry runs, plan files). :func:`estimate` only
counts, in the database, so that the circuit breaker can judge a run of any size before its
first change without holding millions of keys in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice

from lethe.actions.external import ExternalAction
from lethe.engine.decisions import Partition, breaker_verdict, first_run_verdict, partition
from lethe.engine.external import plan_external
from lethe.engine.partition_drops import PartitionDropper, partition_line
from lethe.engine.runtime import Runtime, Target
from lethe.model.keys import ItemKey, key_text
from lethe.model.plan import PhasePlan, Plan
from lethe.stores.base import Item

__all__ = ["Estimate", "estimate", "plan", "plan_target", "removed_rows", "trip_reason"]


#: Selected items judged at a time (a page of the store's selection).
_PAGE = 5000


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
        limit = _cap_left(cap, used) if action.destructive else None
        split = _selected(target, index, as_of, registry, wanted, drift, limit)
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


def _selected(
    target: Target,
    index: int,
    as_of: datetime,
    registry: AbstractSet[str],
    wanted: set[str] | None,
    drift: dict[str, int] | None,
    limit: int | None,
) -> Partition:
    """One phase's selected items split by holds, guards and (unless a preview applies it
    as the batches go) the cap.

    The items are split as they are read, a page at a time, and only their keys are kept:
    at 1M rows the 100k due items are ~10 MB of a plan's peak.
    """
    items: Iterable[Item] = target.handle.iter_select(target.selection(index, as_of))
    if wanted is not None:
        items = _drift(list(items), wanted, registry, drift if drift is not None else {})
    blocked: dict[str, str] = {}
    cascades = target.actions[index].cascades
    guarded = _guarded(target, index, as_of, items, blocked)
    return partition(guarded, registry, blocked, None if cascades else limit)


def _guarded(
    target: Target, index: int, as_of: datetime, items: Iterable[Item], blocked: dict[str, str]
) -> Iterator[Item]:
    """``items`` a page at a time, each page's items that another phase holds back added to
    ``blocked`` before the page is yielded (so :func:`partition` finds them there)."""
    rest = iter(items)
    while page := list(islice(rest, _PAGE)):
        blocked.update(target.blocked(index, [i.key for i in page if not i.held], as_of))
        yield from page


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
        split.act,
        batch_size=rt.config.batch_size(target.policy),
        held=target.held_keys,
        limit=limit,
    )
    act: list[ItemKey] = []
    blocked = dict(split.blocked)
    capped = 0
    for key in split.act:  # in key order, as the preview judged them
        text = key_text(key)
        if text in preview.swept:
            continue  # an earlier item's cascade takes it: counted there, as a run counts it
        if limit is not None and len(act) >= limit:
            capped += 1
        elif text in preview.blocked:
            blocked[text] = preview.blocked[text]
        else:
            act.append(key)
    cascade = preview.cascaded(target.handle.table, len(act))
    updated = {table: n for table, n in preview.updated.items() if n}
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


def estimate(
    rt: Runtime,
    target: Target,
    as_of: datetime,
    *,
    enough: Callable[[dict[str, int]], bool] | None = None,
) -> list[Estimate]:
    """Counts only (no keys): eligible, held, capped and cascaded rows per phase.

    ``enough``, given the rows counted so far (as :func:`removed_rows` sums them), says whether
    counting may stop there: the breaker's verdict only grows with the counts, so once the
    roots alone trip it, their cascades (the costly counts) cannot change it. The estimate is
    then partial.
    """
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
        counted = Estimate(
            index, handle.table, acting, held, eligible - acting, {}, action.destructive
        )
        if enough is not None and enough(removed_rows([*estimates, counted])):
            return [*estimates, counted]
        if action.cascades and acting:
            cascade = handle.cascade_counts_where(
                selection, exclude=registry, limit=acting if acting < eligible else None
            )
            counted = replace(counted, cascade=cascade)
        estimates.append(counted)
        if enough is not None and enough(removed_rows(estimates)):
            break
    return estimates


def removed_rows(phases: Sequence[Estimate] | Sequence[PhasePlan]) -> dict[str, int]:
    """Rows the destructive phases remove (or blank) per table, cascades included."""
    rows: dict[str, int] = {}
    for phase in phases:
        if phase.destructive:
            for table, count in phase.rows_by_table.items():
                rows[table] = rows.get(table, 0) + count
    return rows


def trip_reason(
    rt: Runtime,
    target: Target,
    rows: dict[str, int],
    sizes: Callable[[], Mapping[str, int]] | None = None,
) -> str | None:
    """The circuit breaker's verdict on one policy's removals, or None when they may go ahead
    (a policy's first real run is also held to ``first_run_max_rows``). ``sizes`` gives the
    tables' sizes (default: read them now)."""
    breaker = rt.config.breaker(target.policy)
    if not breaker.enabled or not any(rows.values()):
        return None
    verdict = breaker_verdict(rows, (sizes or target.handle.table_sizes)(), breaker)
    if verdict is None and breaker.first_run_max_rows is not None:
        first = first_run_verdict(rows, breaker.first_run_max_rows)
        if first and not rt.runs.completed(target.policy):
            return first
    return verdict
