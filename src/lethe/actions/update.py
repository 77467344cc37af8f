"""``update`` and ``redact``: change columns on due rows and keep the rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from lethe.actions.base import Action, PhaseContext
from lethe.actions.registry import register
from lethe.config.types import SqlName
from lethe.model.conditions import All, Any_, Condition, DistinctFrom, Scalar
from lethe.model.keys import ItemKey
from lethe.stores.base import Batch, DatasetHandle


class _SetColumns(Action):
    """Shared behaviour: set fixed values on due rows whose values still differ."""

    set_now: list[SqlName] = Field(
        default_factory=list, description="Columns set to the run's instant (e.g. finished_at)."
    )

    destructive: ClassVar[bool] = False

    def values(self) -> dict[str, Scalar]:
        raise NotImplementedError

    def selection(self, ctx: PhaseContext) -> Condition:
        # Only rows that still differ, so a second run changes nothing and audits nothing.
        differs = tuple(DistinctFrom(col, val) for col, val in self.values().items())
        return All((ctx.due, Any_(differs)))

    def apply(
        self, batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> Mapping[str, Mapping[str, Any]]:
        values: dict[str, Any] = dict(self.values())
        values.update({column: ctx.now() for column in self.set_now})
        batch.update(keys, values)
        return {}

    def applied(
        self, dataset: DatasetHandle, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> set[str]:
        target = self.values()
        rows = dataset.fetch(keys, list(target))
        return {k for k, row in rows.items() if all(row[c] == v for c, v in target.items())}

    def writes(self) -> set[str]:
        return set(self.values()) | set(self.set_now)


@register("update")
class Update(_SetColumns):
    """Set columns to fixed values on due rows, e.g. mark runs stuck in RUNNING as FAILED::

    [[policies.stuck-runs.actions]]
    type = "update"
    set = { status = "FAILED" }
    set_now = ["finished_at"]
    """

    type: Literal["update"] = "update"
    set: dict[SqlName, Scalar] = Field(min_length=1)

    label = "Updated"
    event = "updated"

    def values(self) -> dict[str, Scalar]:
        return dict(self.set)


@register("redact")
class Redact(_SetColumns):
    """Blank out content columns on due rows and keep the row (``value`` defaults to NULL)::

    [[policies.submissions.actions]]
    type = "redact"
    columns = ["content"]
    """

    type: Literal["redact"] = "redact"
    columns: list[SqlName] = Field(min_length=1)
    value: Scalar = None

    label = "Redacted"
    event = "redacted"
    destructive: ClassVar[bool] = True

    @model_validator(mode="after")
    def _distinct_columns(self) -> Redact:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns are listed twice")
        return self

    def values(self) -> dict[str, Scalar]:
        return dict.fromkeys(self.columns, self.value)
