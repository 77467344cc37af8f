"""Listeners told of every committed batch: how an application reacts to lethe's deletions.

A listener is any callable taking a :class:`CommittedBatch`. It is called after the batch's
store transaction committed (its audit events reach the ledger in a state transaction of
their own while the next batch works, at the latest before that batch's intent or when the
phase ends), once per batch that changed at least
one item, in every kind of run (the CLI, ``lethe tick``, the HTTP trigger, the Python API);
dry runs and plans commit nothing and call nobody. A listener that raises is logged and the
run goes on: the batch is already committed, and its audit is already durable (in the
batch's intent, which any later run settles), so its failure cannot undo it.

``lethe.contrib.django`` registers one that sends the ``lethe`` Django signal
(:mod:`lethe.contrib.django.signals`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lethe.model.keys import ItemKey

__all__ = [
    "BatchListener",
    "CommittedBatch",
    "add_batch_listener",
    "notify_batch",
    "remove_batch_listener",
]

log = logging.getLogger("lethe.hooks")


@dataclass(frozen=True)
class CommittedBatch:
    """One committed batch: which items of which dataset an action changed.

    ``keys`` are the items' keys in their native type (an ``int`` primary key stays an
    ``int``), in the order they were acted on; items the store failed on are not among them.
    ``cascade`` counts the rows each table lost or had updated with them.
    """

    run_id: str
    batch_id: str
    policy: str
    dataset: str
    action: str
    event: str
    keys: tuple[ItemKey, ...]
    cascade: Mapping[str, int] = field(default_factory=dict)
    #: the dataset's SQL table (None for object stores and Redis)
    table: str | None = None


BatchListener = Callable[[CommittedBatch], None]

_listeners: list[BatchListener] = []
_lock = threading.Lock()


def add_batch_listener(listener: BatchListener) -> None:
    """Call ``listener`` for every committed batch from now on (once, however often added)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def remove_batch_listener(listener: BatchListener) -> None:
    """Stop calling ``listener`` (a no-op if it was never added)."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def notify_batch(batch: CommittedBatch) -> None:
    """Call every listener with ``batch``; one that raises is logged, the others still run."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(batch)
        except Exception as exc:
            name = getattr(listener, "__qualname__", repr(listener))
            log.error(
                "batch listener %s failed on batch %s (committed; the run goes on): %s: %s",
                name,
                batch.batch_id,
                type(exc).__name__,
                exc,
            )
