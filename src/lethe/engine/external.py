"""Phases that act outside the store (:class:`~lethe.actions.external.ExternalAction`).

They select like any phase — dataset filters, holds (which beat everything), the other phases'
guards — but without locking or batches: all selected items go to the action in one call, in
plans (which only preview) and in runs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from lethe.actions.external import ExternalAction
from lethe.engine.decisions import Partition, partition
from lethe.engine.runtime import Runtime, Target
from lethe.model.keys import key_text
from lethe.model.plan import PhasePlan
from lethe.model.results import PhaseResult

__all__ = ["plan_external", "run_external"]


def _candidates(
    rt: Runtime, target: Target, index: int, as_of: datetime, planned: Collection[str] | None
) -> Partition:
    items = list(target.handle.iter_select(target.selection(index, as_of)))
    if planned is not None:
        items = [item for item in items if key_text(item.key) in planned]
    registry = rt.holds.active_keys(target.dataset)
    blocked = target.blocked(index, [i.key for i in items if not i.held], as_of)
    return partition(items, registry, blocked, None)


def _action(target: Target, index: int) -> ExternalAction:
    action = target.actions[index]
    if not isinstance(action, ExternalAction):
        raise TypeError(f"phase [{index}] of {target.policy} acts in the store")
    return action


def plan_external(
    rt: Runtime,
    target: Target,
    index: int,
    as_of: datetime,
    planned: Collection[str] | None = None,
) -> PhasePlan:
    """What the phase would do at ``as_of`` (on the ``planned`` keys only, when given);
    changes and sends nothing."""
    action = _action(target, index)
    split = _candidates(rt, target, index, as_of, planned)
    outcome = action.act(target.handle, split.act, target.context(as_of), run_id=None, phase=index)
    return PhasePlan(
        policy=target.policy,
        dataset=target.dataset,
        table=target.handle.table,
        phase=index,
        action=action.type,
        label=action.label,
        keys=outcome.acted,
        held=split.held,
        blocked=split.blocked,
        destructive=False,
        unreadable=split.unreadable,
        summary=outcome.summary,
        details=outcome.details,
        notes=outcome.notes + tuple(f"not sent: {error}" for error in outcome.errors),
    )


def run_external(
    rt: Runtime,
    target: Target,
    index: int,
    as_of: datetime,
    run_id: str,
    planned: Collection[str] | None = None,
) -> tuple[PhaseResult, list[str]]:
    """Act now (on the ``planned`` keys only, when given); returns the result and its errors."""
    action = _action(target, index)
    split = _candidates(rt, target, index, as_of, planned)
    outcome = action.act(
        target.handle, split.act, target.context(as_of), run_id=run_id, phase=index
    )
    result = PhaseResult(
        policy=target.policy,
        dataset=target.dataset,
        table=target.handle.table,
        phase=index,
        action=action.type,
        label=action.label,
        acted=len(outcome.acted),
        held=len(split.held),
        blocked=len(split.blocked),
        destructive=False,
        unreadable=len(split.unreadable),
        summary=outcome.summary,
        details=outcome.details,
    )
    return result, list(outcome.errors)
