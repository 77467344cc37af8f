"""Cross-store links: the blob or Redis key a row points to, deleted with the row.

A table dataset lists ``links``; a purge then deletes each due row's linked items first (in the
order listed, through the linked dataset's own batches), and the row last, so that an
interruption can leave a row whose item is gone — finished by the next run — but never an item
that nothing points to. A row whose linked item could not be deleted is kept and reported.

Orphans are reported both ways by :func:`lethe.engine.orphans.orphans`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lethe.config.datasets import Link
from lethe.model.keys import ItemKey
from lethe.stores.base import DatasetHandle

__all__ = ["LinkedItems"]


@dataclass(frozen=True)
class LinkedItems:
    """The items of dataset ``name`` that rows of ``source`` point to through ``link``."""

    name: str
    link: Link
    source: DatasetHandle
    target: DatasetHandle

    def resolve(self, keys: Sequence[ItemKey]) -> dict[str, str]:
        """Row key text → the linked item's key, for the rows that link one."""
        rows = self.source.fetch(keys, [self.link.column])
        resolved = {k: self.link.key_for(row[self.link.column]) for k, row in rows.items()}
        return {k: v for k, v in resolved.items() if v is not None}

    def delete(self, keys: Sequence[str]) -> dict[str, str]:
        """Delete linked items (missing ones count as deleted); returns failures, with why."""
        if not keys:
            return {}
        with self.target.open_batch() as batch:
            batch.delete([self.target.parse_key(k) for k in keys])
        return dict(batch.failed)
