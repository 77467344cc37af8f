"""Partitions dropped whole, through the store capability
:class:`~lethe.stores.base.PartitionDrops`.

A destructive phase whose action allows it (``purge``: :meth:`~lethe.actions.Action.drops_whole`)
and that no other phase of its policy guards asks its store, before its row batches, which
partitions hold only selected, unheld items; each is dropped in one store transaction with one
audit event, ``partition_dropped``, recorded through the same batch intent as a row batch (so
a crash between the store's commit and the ledger is settled like any other batch:
:func:`partitions_settled`). The items of a partition that does not qualify take the row path.

``max_deletions`` counts a partition's rows. A phase whose selected items do not all fit in
what the cap leaves drops no partition: the row path then deletes exactly what the plan says,
the first items in key order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lethe.actions.base import Action
from lethe.engine.runtime import Runtime, Target
from lethe.holds.registry import HeldKeys
from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey
from lethe.state.ledger import EventDraft
from lethe.stores.base import PartitionDrops, PartitionFacts

__all__ = [
    "EVENT",
    "PartitionDropper",
    "partition_line",
    "partitions_settled",
    "registry_holds",
]

#: The audit event of a partition dropped whole (its item key is the partition's name).
EVENT = "partition_dropped"


def registry_holds(rt: Runtime, dataset: str) -> tuple[list[str], list[str]]:
    """The registry's active holds on ``dataset``: exact keys, and key prefixes."""
    keys = rt.holds.active_keys(dataset)
    prefixes = keys.prefixes if isinstance(keys, HeldKeys) else ()
    return sorted(keys), sorted(prefixes)


def _guarded(target: Target, index: int) -> bool:
    """Whether another phase of the policy may hold back this one's items (a warning)."""
    return any(
        type(other).guard is not Action.guard
        for i, other in enumerate(target.actions)
        if i != index
    )


@dataclass
class PartitionDropper:
    """The partitions of one phase that go whole."""

    rt: Runtime
    target: Target
    index: int
    selection: Condition

    @property
    def handle(self) -> PartitionDrops | None:
        t = self.target
        action = t.actions[self.index]
        ctx = t.context(t.context_probe())
        if not isinstance(t.handle, PartitionDrops) or not action.drops_whole(ctx):
            return None
        return None if _guarded(t, self.index) else t.handle

    def restore(self) -> list[str]:
        """Before a real run's phase: the partitions an interrupted drop left out of their
        table that no longer qualify are put back, for the row path (whatever the phase)."""
        handle = self.target.handle
        if not isinstance(handle, PartitionDrops):
            return []
        exact, prefixes = registry_holds(self.rt, self.target.dataset)
        return handle.restore_partitions(self.selection, exact, prefixes)

    def candidates(self, cap_left: int | None) -> list[PartitionFacts]:
        """The partitions that qualify now; none when the cap would stop the phase early."""
        handle = self.handle
        if handle is None:
            return []
        exact, prefixes = registry_holds(self.rt, self.target.dataset)
        found = handle.droppable(self.selection, exact, prefixes)
        if found and cap_left is not None:
            parsed = [self.target.handle.parse_key(k) for k in exact]
            eligible, _ = self.target.handle.count(self.selection, exclude=parsed)
            left_detached = sum(p.rows for p in found if p.detached)
            if eligible + left_detached > cap_left:
                return []
        return found

    def going_with(self, key: ItemKey, cap_left: int | None) -> str | None:
        """The partition the item ``key`` would be dropped with now, if any."""
        handle = self.handle
        if handle is None:
            return None
        name = handle.partition_of(key)
        return name if name in {p.name for p in self.candidates(cap_left)} else None

    def drop(
        self,
        partition: PartitionFacts,
        event: Callable[[str, PartitionFacts], EventDraft],
        record: Callable[[str, PartitionFacts, EventDraft], None],
        batch_id: str,
    ) -> PartitionFacts | None:
        """Drop one partition, recording its intent (``record``) before the drop commits."""
        handle = self.handle
        assert handle is not None

        def intent(facts: PartitionFacts) -> None:
            record(batch_id, facts, event(batch_id, facts))

        return handle.drop_partition(
            partition,
            self.selection,
            lambda: registry_holds(self.rt, self.target.dataset),
            intent,
        )


def partition_line(partition: PartitionFacts) -> dict[str, object]:
    """How plans and run results name a partition dropped whole (``details.partitions``)."""
    return {"partition": partition.name, "bound": partition.bound, "rows": partition.rows}


def partitions_settled(target: Target, names: Sequence[str]) -> set[str] | None:
    """For a crashed ``partition_dropped`` intent: which partitions are gone (None: the
    dataset's store cannot drop partitions, so the intent is not one of them)."""
    handle = target.handle
    if not isinstance(handle, PartitionDrops):
        return None
    return handle.partitions_gone(names)
