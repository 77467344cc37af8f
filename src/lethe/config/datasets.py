"""Datasets: which rows a policy looks at, when each is due, and what goes with it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.config.types import DurationField, Identifier, SqlName
from lethe.model.conditions import (
    All,
    Before,
    Condition,
    DistinctFrom,
    Equals,
    In,
    IsNull,
    Not,
    NotNull,
    Scalar,
)

__all__ = ["CascadeStep", "DatasetConfig", "HoldTable", "RowFilter"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RowFilter(_Strict):
    """One structured row filter: a column and exactly one test.

    ``{ column = "status", equals = "RUNNING" }``, ``{ column = "deleted_at", is_null = true }``,
    ``{ column = "kind", in = ["a", "b"] }``, ``{ column = "updated_at", older_than = "30d" }``.
    """

    column: SqlName
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    is_null: bool | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    older_than: DurationField | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> RowFilter:
        tests = [
            name
            for name in ("equals", "not_equals", "is_null", "in_", "not_in", "older_than")
            if name in self.model_fields_set
        ]
        if len(tests) != 1:
            raise ValueError(
                "a filter needs exactly one of equals, not_equals, is_null, in, not_in, "
                f"older_than (got {len(tests)})"
            )
        return self

    def condition(self, as_of: datetime) -> Condition:
        """This filter as a condition evaluated at ``as_of``."""
        fields = self.model_fields_set
        if "equals" in fields:
            return IsNull(self.column) if self.equals is None else Equals(self.column, self.equals)
        if "not_equals" in fields:
            return DistinctFrom(self.column, self.not_equals)
        if "is_null" in fields:
            return IsNull(self.column) if self.is_null else NotNull(self.column)
        if "in_" in fields:
            return In(self.column, tuple(self.in_ or ()))
        if "not_in" in fields:
            return All((NotNull(self.column), Not(In(self.column, tuple(self.not_in or ())))))
        assert self.older_than is not None  # guaranteed by _exactly_one_test
        return Before(self.column, self.older_than.before(as_of))


class CascadeStep(_Strict):
    """A child table deleted before its parent, in the order listed.

    ``columns`` are the child's columns that reference the parent (several when the child
    refers to the parent in more than one role); ``references`` is the parent's column they
    point at (default: the dataset key, or the parent table's key for a deeper step).
    """

    table: SqlName
    columns: list[SqlName] = Field(min_length=1)
    parent: SqlName | None = None
    references: SqlName | None = None


class HoldTable(_Strict):
    """The application's own legal-hold table: a row naming the item holds it.

    A hold is active while ``released_column`` (if given) is NULL, e.g. Census' ``LegalHold``
    with ``removed_at``.
    """

    table: SqlName
    column: SqlName
    released_column: SqlName | None = None


class DatasetConfig(_Strict):
    """A table (or later a prefix or key pattern) and when each of its items is due.

    Give either ``due_column`` (a column holding the due instant) or ``age_column`` plus
    ``retain`` (due once the age column is older than the retention).
    """

    store: Identifier | None = None
    table: SqlName
    db_schema: SqlName | None = Field(default=None, alias="schema")
    key: SqlName
    due_column: SqlName | None = None
    age_column: SqlName | None = None
    retain: DurationField | None = None
    where: list[RowFilter] = Field(default_factory=list)
    cascade: Literal["auto", "none"] | list[CascadeStep] = "auto"
    holds: HoldTable | None = None

    @model_validator(mode="after")
    def _one_due_rule(self) -> DatasetConfig:
        if self.due_column and (self.age_column or self.retain):
            raise ValueError("give either due_column, or age_column with retain, not both")
        if not self.due_column and not (self.age_column and self.retain):
            raise ValueError("say when rows are due: due_column, or age_column with retain")
        return self

    def due(self, as_of: datetime) -> Condition:
        """The condition "due at ``as_of``": the due instant has passed (inclusive)."""
        if self.due_column:
            return Before(self.due_column, as_of)
        assert self.age_column is not None and self.retain is not None  # by _one_due_rule
        return Before(self.age_column, self.retain.before(as_of))

    def filters(self, as_of: datetime) -> Condition:
        """The dataset's row filters, all of them, at ``as_of``."""
        return All(tuple(f.condition(as_of) for f in self.where))
