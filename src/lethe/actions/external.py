"""Phases that act outside the dataset's store: they send, post or export, and change no row.

The engine selects their items like any phase's (dataset filters, holds, other phases' guards)
but without locking, and hands all of them to :meth:`ExternalAction.act` at once, in plans
(``run_id`` None: say what would happen, do nothing) and in runs. One call per run is what
lets a warning phase send one digest per recipient rather than one per batch, and it never
holds a row lock while waiting on a mail server.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lethe.actions.base import Action, PhaseContext
from lethe.model.keys import ItemKey
from lethe.stores.base import Batch, DatasetHandle

__all__ = ["ExternalAction", "ExternalOutcome"]


@dataclass(frozen=True)
class ExternalOutcome:
    """What an external phase did, or would do."""

    #: The items acted on (or that would be).
    acted: tuple[ItemKey, ...]
    #: Lines for the run summary ("Sent 3 deletion warnings in 2 messages: …").
    summary: tuple[str, ...] = ()
    #: Counts for machines (``--json``, run records); never personal data.
    details: Mapping[str, Any] = field(default_factory=dict)
    #: Lines shown in plans only (they may name recipients); never recorded in a run.
    notes: tuple[str, ...] = ()
    #: Failures: counted in the run's errors (the run is degraded, and continues).
    errors: tuple[str, ...] = ()


class ExternalAction(Action):
    """Base class of phases that act outside the store (``warn``)."""

    destructive: ClassVar[bool] = False

    def apply(
        self, batch: Batch, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> Mapping[str, Mapping[str, Any]]:
        raise TypeError(f"phase type {self.type!r} acts outside the store, not in batches")

    def applied(
        self, dataset: DatasetHandle, keys: Sequence[ItemKey], ctx: PhaseContext
    ) -> set[str]:
        # Never part of a batch intent, so recovery never asks.
        return set()

    @abstractmethod
    def act(
        self,
        dataset: DatasetHandle,
        keys: Sequence[ItemKey],
        ctx: PhaseContext,
        *,
        run_id: str | None,
        phase: int,
    ) -> ExternalOutcome:
        """Act on ``keys`` (selected, not held, not blocked); ``run_id`` None: only preview."""
