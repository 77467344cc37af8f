"""``soft_delete``: mark due rows deleted by setting a timestamp column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lethe.actions.base import Action, PhaseContext
from lethe.actions.registry import register
from lethe.config.types import SqlName
from lethe.model.conditions import All, Condition, IsNull
from lethe.model.keys import ItemKey
from lethe.stores.base import Batch, DatasetHandle


@register("soft_delete")
class SoftDelete(Action):
    """Set ``column`` to the run's instant on due rows where it is still empty.

    Example::

        [[policies.governance.actions]]
        type = "soft_delete"
        column = "deleted_at"
    """

    type: Literal["soft_delete"] = "soft_delete"
    column: SqlName = "deleted_at"

    label = "Soft deleted"
    event = "soft_deleted"

    def selection(self, ctx: PhaseContext) -> Condition:
        return All((ctx.due, IsNull(self.column)))

    def apply(
        self, batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> Mapping[str, Mapping[str, Any]]:
        batch.update(keys, {self.column: ctx.now()})
        return {}

    def applied(
        self, dataset: DatasetHandle, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> set[str]:
        rows = dataset.fetch(keys, [self.column])
        return {key for key, row in rows.items() if row[self.column] is not None}

    def writes(self) -> set[str]:
        return {self.column}
