"""Isolating the items a store refused, so that one failing row never stops the others.

A store raises :class:`~lethe.errors.DataRefusedError` when a batch's change is refused for the
data it touched (a foreign key the cascade does not cover, a trigger, a constraint checked at
commit); the store has rolled the whole batch back. The executor then splits the batch's keys in
halves and runs each half as a batch of its own — its own transaction and its own intent, so a
``kill -9`` in the middle still leaves every item either whole or gone — and splits again each
half the store refuses, until every refused item stands alone. Those are skipped (the caller
records them); all the others are acted on. With ``f`` refused items among ``n``, that costs
about ``2·f·log2(n/f)`` extra batches, and nothing at all when no batch is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lethe.errors import DataRefusedError
from lethe.model.keys import ItemKey

__all__ = ["Refused", "isolate"]


class Refused(Exception):
    """A batch the store refused after locking its items: their keys, why, and the batch id."""

    def __init__(self, keys: Sequence[ItemKey], error: DataRefusedError, batch_id: str) -> None:
        super().__init__(str(error))
        self.keys = tuple(keys)
        self.error = error
        self.batch_id = batch_id


def isolate(
    refused: Refused,
    attempt: Callable[[Sequence[ItemKey]], int],
    skip: Callable[[Refused], None],
) -> int:
    """Bisect ``refused``: ``attempt(keys)`` runs one batch of exactly those keys and returns
    how many items it acted on, or raises :class:`Refused`; ``skip`` is called, in key order,
    with each single-item batch the store still refuses. Returns the items acted on."""
    acted = 0
    # Depth-first, left half first: batches and skips come in key order, and the stack never
    # holds more than about two entries per halving.
    stack: list[Refused | tuple[ItemKey, ...]] = [refused]
    while stack:
        entry = stack.pop()
        if isinstance(entry, Refused):
            if len(entry.keys) == 1:
                skip(entry)
            else:
                middle = len(entry.keys) // 2
                stack += [entry.keys[middle:], entry.keys[:middle]]
            continue
        try:
            acted += attempt(entry)
        except Refused as again:
            stack.append(again)
    return acted
