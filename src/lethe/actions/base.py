"""The action interface: one phase of a policy.

An action is a frozen pydantic model (its fields are the policy file's keys, so the JSON Schema
comes from the class) with three duties, each free of engine internals:

* :meth:`Action.selection` — which of the dataset's rows this phase acts on at ``ctx.as_of``,
  as a :data:`~lethe.model.conditions.Condition` (pure: no I/O).
* :meth:`Action.apply` — act on items already locked in an open :class:`~lethe.stores.base.Batch`,
  returning per-item details for the audit events.
* :meth:`Action.applied` — which of some items show this action's effect, so that an interrupted
  batch can be reconciled with the audit ledger after a crash.
* :meth:`Action.guard` (optional) — which items of another phase must wait for this one.
* :meth:`Action.reads`, :meth:`Action.reads_related` and :meth:`Action.bind` (optional) —
  what else the phase needs of the live store, checked before anything runs.

Phases that act outside the store (a warning) derive from
:class:`lethe.actions.external.ExternalAction` instead of acting in batches.

A new kind of phase is a new module in this package with a class decorated by
:func:`lethe.actions.registry.register`; the engine does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey
from lethe.state.db import StateDB
from lethe.stores.base import Batch, DatasetHandle
from lethe.stores.links import LinkedItems

__all__ = ["Action", "PhaseContext"]


@dataclass(frozen=True)
class PhaseContext:
    """What an action may know when it selects or acts."""

    policy: str
    dataset: str
    as_of: datetime
    due: Condition
    soft_delete_column: str | None = None
    #: lethe's state database, for phases that keep their own records (a delivery ledger).
    state: StateDB | None = None
    #: The dataset's due condition at any instant, for phases that look ahead (warnings).
    due_at: Callable[[datetime], Condition] | None = None
    #: The policy file's directory, against which a phase's relative paths resolve.
    base_dir: Path | None = None
    #: Items in other stores that the dataset's rows point to (``links``), deleted with them.
    links: tuple[LinkedItems, ...] = ()
    #: Which of some key texts of the dataset lethe's hold registry holds (a purge keeps an
    #: item whose cascade would reach a held row of its own table).
    held: Callable[[Sequence[str]], AbstractSet[str]] | None = None

    def now(self) -> datetime:
        """The instant a phase writes into the data (a soft-delete marker, ``set_now``): the
        real time by the state database's clock, never ``as_of``, which a back-dated run
        puts in the past (a grace period must count from when the row was really marked)."""
        return self.state.now() if self.state is not None else self.as_of


class Action(BaseModel, ABC):
    """Base class of every phase type (``soft_delete``, ``purge``, ``update``, ``redact``, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    #: Past-tense label used in summaries ("Soft deleted: 3 surveys").
    label: ClassVar[str]
    #: Audit event written per item ("soft_deleted").
    event: ClassVar[str]
    #: Destructive phases count toward ``max_deletions``, the circuit breaker and ``min_retain``.
    destructive: ClassVar[bool] = True
    #: Whether acting removes cascaded child rows (so plans count them).
    cascades: ClassVar[bool] = False
    #: At most one phase of this type per policy (it keeps records keyed by policy).
    once_per_policy: ClassVar[bool] = False

    @abstractmethod
    def selection(self, ctx: PhaseContext) -> Condition:
        """The rows this phase acts on at ``ctx.as_of`` (the engine adds the dataset filters)."""

    @abstractmethod
    def apply(
        self, batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> Mapping[str, Mapping[str, Any]]:
        """Act on ``keys`` (locked in ``batch``); return event details per key text."""

    @abstractmethod
    def applied(
        self, dataset: DatasetHandle, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> set[str]:
        """Key texts among ``keys`` whose current state shows this action was applied."""

    def guard(self, other: Action, keys: Sequence[ItemKey], ctx: PhaseContext) -> Mapping[str, str]:
        """Items of ``other`` (another phase of the same policy) that must wait, with why.

        The engine asks every phase before any phase acts, in plans and in batches alike, so a
        phase can hold back another: a warning phase keeps items from deletion until their
        notice was delivered. The default blocks nothing.
        """
        return {}

    def writes(self) -> set[str]:
        """Columns this phase changes (used to keep phases of one policy independent)."""
        return set()

    def reads(self) -> set[str]:
        """Columns of the dataset this phase reads besides its selection (checked, granted)."""
        return set()

    def reads_related(self) -> dict[str, set[str]]:
        """Columns of other tables this phase reads, by table (granted by ``--grants``)."""
        return {}

    def bind(self, dataset: DatasetHandle, ctx: PhaseContext) -> None:
        """Raise :class:`~lethe.errors.ConfigError` unless the live store and files give this
        phase what it needs beyond its columns (``lethe check``, and before every run)."""

    def drops_whole(self, ctx: PhaseContext) -> bool:
        """Whether a store may remove a whole partition of this phase's selected, unheld
        items at once (:class:`~lethe.stores.base.PartitionDrops`) instead of item by item:
        only when removing the rows is all the phase does to them."""
        return False

    def reads_before_run(self, ctx: PhaseContext) -> set[str]:
        """Columns this phase only tests for being set strictly before ``ctx.as_of``.

        An earlier phase of the same run may write such a column (it writes an instant no
        earlier than ``as_of``, :meth:`PhaseContext.now`) without changing what this phase
        selects.
        """
        return set()
