"""``purge``: hard-delete rows with their cascade, optionally a grace period after soft deletion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lethe.actions.base import Action, PhaseContext
from lethe.actions.registry import register
from lethe.config.types import DurationField, SqlName
from lethe.model.conditions import All, Before, Condition, NotNull
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import Batch, DatasetHandle


@register("purge")
class Purge(Action):
    """Delete rows and their child rows (children first, in one transaction per batch).

    Without ``grace`` it deletes due rows. With ``grace`` it deletes rows whose soft-delete
    column (``after``, default the policy's ``soft_delete`` column) was set more than ``grace``
    before the run — never a row soft-deleted in the same run. Example::

        [[policies.governance.actions]]
        type = "purge"
        grace = "30d"
    """

    type: Literal["purge"] = "purge"
    grace: DurationField | None = None
    after: SqlName | None = None

    label = "Hard deleted"
    event = "hard_deleted"
    cascades = True

    def marker(self, ctx: PhaseContext) -> str | None:
        """The soft-delete column the grace period counts from."""
        return self.after or ctx.soft_delete_column

    def selection(self, ctx: PhaseContext) -> Condition:
        if self.grace is None:
            return ctx.due
        marker = self.marker(ctx)
        if marker is None:
            raise ValueError("purge with grace needs a soft_delete phase or 'after'")
        # Strictly before: a row soft-deleted by this very run (marker >= as_of) waits, so the
        # plan, which evaluates each phase against the state before the run, stays exact.
        return All((NotNull(marker), Before(marker, self.grace.before(ctx.as_of), inclusive=False)))

    def reads_before_run(self, ctx: PhaseContext) -> set[str]:
        marker = self.marker(ctx)
        return {marker} if self.grace is not None and marker else set()

    def apply(
        self, batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> Mapping[str, Mapping[str, Any]]:
        # Rows a protected foreign key still references stay, and so do their linked items.
        blocked = batch.blockers(keys, ctx.held)
        if blocked:
            keys = [k for k in keys if key_text(k) not in blocked]
        linked = _delete_linked(batch, keys, ctx)
        if batch.failed:
            keys = [k for k in keys if key_text(k) not in batch.failed]
        outcome = batch.delete(keys)
        details: dict[str, dict[str, Any]] = {}
        for key, counts in outcome.per_item.items():
            detail: dict[str, Any] = {"cascade": counts}
            if key in outcome.updated_keys:
                detail["updated"] = outcome.updated_keys[key]
            if key in linked:
                detail["linked"] = linked[key]
            details[key] = detail
        return details

    def drops_whole(self, ctx: PhaseContext) -> bool:
        # Linked items in other stores go with each row, one by one.
        return not ctx.links

    def applied(
        self, dataset: DatasetHandle, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> set[str]:
        present = dataset.fetch(keys, [])
        return {key_text(key) for key in keys} - set(present)


def _delete_linked(
    batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
) -> dict[str, dict[str, str]]:
    """Delete the items the rows link to, link by link; a row whose item stays is kept."""
    linked: dict[str, dict[str, str]] = {}
    for links in ctx.links:
        pending = [k for k in keys if key_text(k) not in batch.failed]
        targets = links.resolve(pending)
        failures = links.delete(sorted(set(targets.values())))
        for row, item in targets.items():
            linked.setdefault(row, {})[links.name] = item
            if item in failures:
                batch.failed[row] = f"linked {links.name} {item} not deleted: {failures[item]}"
    return linked
