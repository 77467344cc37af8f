"""Datasets whose items are listed and judged in Python: blob prefixes and Redis key patterns.

A SQL store compiles a condition into its query; object storage and Redis cannot, so these
stores stream their items (a page at a time, whatever the number) and judge each one with the
reference evaluator of :mod:`lethe.model.conditions`. The protocol's SQL-shaped parts get their
natural meaning here: nothing cascades, a dataset's "table size" is the number of items
listed, and columns are the facts the store lists (``last_modified``) or the fields it reads
(metadata, hash fields).

Timestamps are read leniently — ISO 8601, or epoch seconds or milliseconds — and an item
whose condition cannot be judged because a timestamp it needs is missing or malformed is
returned flagged ``unreadable``: skipped and counted, never acted on.

Batches have no transaction: deletions are buffered and carried out when the batch commits
(after the executor has recorded its intent, so a crash is reconciled like any other), and
items the store fails to delete are reported in :attr:`ListedBatch.failed`.
"""

from __future__ import annotations

import heapq
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from lethe.config.datasets import DatasetConfig
from lethe.errors import StoreError
from lethe.model.conditions import After, Before, Condition, Unreadable, columns_of, predicate
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import DeleteOutcome, HeldFn, Item

__all__ = ["Judge", "ListedBatch", "ListedDataset", "Row", "judge", "to_instant"]

Row = dict[str, Any]

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
#: Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_MILLIS_FROM = 1e11


def to_instant(value: Any) -> datetime:
    """A stored timestamp as an aware UTC instant; ``ValueError`` when it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if _NUMBER.match(text):
        number = float(text)
        return datetime.fromtimestamp(number / 1000 if number >= _MILLIS_FROM else number, UTC)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _instant_columns(condition: Condition) -> set[str]:
    if isinstance(condition, Before | After):
        return {condition.column}
    parts = getattr(condition, "parts", None)
    if parts is not None:
        return set().union(*(_instant_columns(p) for p in parts)) if parts else set()
    part = getattr(condition, "part", None)
    return _instant_columns(part) if part is not None else set()


class Judge:
    """A condition prepared for judging many rows: which columns it reads, which are instants."""

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.columns = tuple(columns_of(condition))
        self.instants = tuple(_instant_columns(condition))
        self.predicate = predicate(condition)

    def __call__(self, row: Mapping[str, Any]) -> bool | None:
        """True: selected; False: not selected; None: unreadable (a timestamp it needs is bad)."""
        values = {name: row.get(name) for name in self.columns}
        bad = False
        for name in self.instants:
            value = values[name]
            if value is None:
                bad = True
            elif not isinstance(value, datetime) or value.tzinfo is None:
                try:
                    values[name] = to_instant(value)
                except (ValueError, OverflowError, OSError):
                    values[name], bad = None, True
        answer = self.predicate(values)
        if answer is None and bad:
            return None
        return bool(answer)


def judge(condition: Condition, row: Mapping[str, Any]) -> bool | None:
    """True: selected; False: not selected; None: unreadable (a timestamp it needs is bad)."""
    return Judge(condition)(row)


def _instant_or_none(value: Any) -> datetime | Unreadable | None:
    try:
        return None if value is None else to_instant(value)
    except (ValueError, OverflowError, OSError):
        raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return Unreadable(repr(raw)[:60])


class ListedDataset(ABC):
    """The read side shared by blob and Redis datasets; subclasses list and remove items."""

    name: str
    label: str
    config: DatasetConfig
    #: The listing a run's batches share: (selection, last key handed out, the rest of it).
    _listing: tuple[Condition, str | None, Iterator[Item]] | None = None

    @property
    @abstractmethod
    def table(self) -> str:
        """The name reported for the dataset's items (its prefixes or key pattern)."""

    @property
    def locks(self) -> bool:
        """Nothing is locked, so batches keep ``batch_size``: one bulk request (DeleteObjects,
        UNLINK) per 1,000 keys rather than smaller ones sized by time."""
        return False

    @property
    def skips_locked(self) -> bool:
        """Nothing is locked, so nothing is passed over: no final pass is needed."""
        return False

    @abstractmethod
    def rows(self, columns: set[str], after: str | None) -> Iterator[tuple[str, Row]]:
        """Every item after ``after`` (in listing order) with ``columns``, streamed."""

    @abstractmethod
    def rows_for(self, keys: Sequence[str], columns: set[str]) -> dict[str, Row]:
        """``columns`` of those of ``keys`` that exist now."""

    @abstractmethod
    def remove(self, keys: Sequence[str]) -> dict[str, str]:
        """Delete ``keys`` in the store's bulk form; returns the keys not deleted, with why."""

    # -- reads ---------------------------------------------------------------------------

    def judged(self, condition: Condition, after: ItemKey | None) -> Iterator[Item]:
        """Selected (and unreadable) items after ``after``, streamed."""
        start = None if after is None else key_text(after)
        verdict_of = Judge(condition)
        for key, row in self.rows(set(verdict_of.columns), start):
            verdict = verdict_of(row)
            if verdict is not False:
                yield Item(key, unreadable=verdict is None)

    def verdicts_for(self, condition: Condition, keys: Sequence[str]) -> dict[str, bool | None]:
        """Those of ``keys`` that exist now and are selected (True) or unreadable (None); a
        key left out is not selected (see :class:`Judge`)."""
        verdict_of = Judge(condition)
        rows = self.rows_for(keys, set(verdict_of.columns))
        verdicts = {key: verdict_of(row) for key, row in rows.items()}
        return {key: verdict for key, verdict in verdicts.items() if verdict is not False}

    def select(
        self,
        condition: Condition,
        *,
        after: ItemKey | None = None,
        limit: int,
        exclude: Sequence[ItemKey] = (),
    ) -> list[Item]:
        """Up to ``limit`` selected items after ``after``."""
        skip = {key_text(k) for k in exclude}
        found: list[Item] = []
        if limit <= 0:
            return found
        stream = self._resume(condition, after)
        for item in stream:
            if key_text(item.key) not in skip:
                found.append(item)
                if len(found) >= limit:
                    # Stop right after the last item taken: the next batch, which asks for the
                    # items after it, continues this very listing (a SCAN cursor, a walk).
                    self._listing = (condition, key_text(item.key), stream)
                    return found
        last = key_text(found[-1].key) if found else (None if after is None else key_text(after))
        self._listing = (condition, last, iter(()))  # the listing is over: nothing after ``last``
        return found

    def _resume(self, condition: Condition, after: ItemKey | None) -> Iterator[Item]:
        """The listing the previous batch of this selection stopped in, or a new one.

        Listing again from the start for every batch would read the whole store once per
        batch; a batch resumes its predecessor's listing when it asks for the items after the
        last item that listing handed out.
        """
        if after is None:
            return self.judged(condition, None)  # a first page always lists afresh
        listing = self._listing
        # Equal, not only identical: a caller paging with a fresh but equal condition (a
        # cursor loop) must continue its listing too, or a store without order (SCAN) would
        # hand it the first page again and again.
        if listing is not None and listing[1] == key_text(after) and listing[0] == condition:
            return listing[2]
        return self.judged(condition, after)

    def iter_select(self, condition: Condition, *, page: int = 5000) -> Iterator[Item]:
        """Every selected (or unreadable) item, streamed."""
        return self.judged(condition, None)

    def count(self, condition: Condition, *, exclude: Sequence[ItemKey] = ()) -> tuple[int, int]:
        """``(eligible, held)``; items in ``exclude`` count as held, unreadable ones in neither."""
        skip = {key_text(k) for k in exclude}
        eligible = held = 0
        for item in self.judged(condition, None):
            if item.unreadable:
                continue
            if key_text(item.key) in skip:
                held += 1
            else:
                eligible += 1
        return eligible, held

    def eligible_keys(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int
    ) -> list[ItemKey]:
        """The ``limit`` smallest eligible keys: the listing streams (as :meth:`count` reads
        it), only ``limit`` keys are kept, so a store without order still gives the same."""
        skip = {key_text(k) for k in exclude}
        eligible = (
            item.key
            for item in self.judged(condition, None)
            if not item.unreadable and key_text(item.key) not in skip
        )
        return list(heapq.nsmallest(max(0, limit), eligible, key=key_text))

    def preview_delete(
        self,
        keys: Sequence[ItemKey],
        *,
        batch_size: int,
        held: HeldFn | None = None,
        limit: int | None = None,
    ) -> DeleteOutcome:
        """Nothing cascades from an object or a key, and nothing blocks its deletion."""
        acting = len(keys) if limit is None else min(len(keys), limit)
        return DeleteOutcome(per_table={self.table: acting})

    def cascade_counts_where(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int | None
    ) -> dict[str, int]:
        """Nothing cascades from an object or a key."""
        return {}

    def table_sizes(self) -> dict[str, int]:
        """The number of items listed now (for the circuit breaker's percentages)."""
        return {self.table: sum(1 for _ in self.rows(set(), None))}

    def fetch(self, keys: Sequence[ItemKey], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``columns`` of the items that exist, keyed by key text; the dataset's timestamps
        as instants (:class:`Unreadable` when malformed), so that ``lethe explain`` can judge
        them."""
        found = self.rows_for([key_text(k) for k in keys], set(columns))
        instants = {self.config.due_column, self.config.age_field}
        instants |= {f.column for f in self.config.where if f.older_than is not None}
        return {
            key: {c: _instant_or_none(row.get(c)) if c in instants else row.get(c) for c in columns}
            for key, row in found.items()
        }

    def require_columns(self, columns: set[str]) -> None:
        """Any field may be asked for: a missing one makes its items unreadable, not an error."""
        del columns

    def parse_key(self, text: str) -> ItemKey:
        """Keys are text (an object path, a Redis key)."""
        return text

    @contextmanager
    def open_batch(self) -> Iterator[ListedBatch]:
        """A batch whose deletions happen when it commits."""
        batch = ListedBatch(self)
        yield batch
        batch.commit()


class ListedBatch:
    """Judges items afresh when locking them; deletes on commit, reporting per-key failures."""

    def __init__(self, dataset: ListedDataset) -> None:
        self.dataset = dataset
        self.failed: dict[str, str] = {}
        self.blocked: dict[str, str] = {}
        #: The selection the batch's items were locked by (a store may judge them again by it
        #: when it deletes them).
        self.condition: Condition | None = None
        self._doomed: list[str] = []

    def lock(
        self,
        condition: Condition,
        *,
        keys: Sequence[ItemKey] | None = None,
        after: ItemKey | None = None,
        limit: int,
        skip_locked: bool,
    ) -> list[Item]:
        """Items selected now (nothing to lock: the store has no row locks)."""
        self.condition = condition
        if keys is None:
            return self.dataset.select(condition, after=after, limit=limit)
        texts = [key_text(k) for k in keys]
        verdicts = self.dataset.verdicts_for(condition, texts)
        items = []
        for text in texts:
            verdict = verdicts.get(text, False)
            if verdict is not False:
                items.append(Item(text, unreadable=verdict is None))
        return items[:limit]

    def update(self, keys: Sequence[ItemKey], values: Mapping[str, Any]) -> int:
        """Objects and keys are deleted, never updated in place."""
        raise StoreError(f"{self.dataset.label}: items can only be purged, not updated")

    def blockers(self, keys: Sequence[ItemKey], held: HeldFn | None = None) -> Mapping[str, str]:
        """Nothing references an object or a key."""
        return {}

    def delete(self, keys: Sequence[ItemKey]) -> DeleteOutcome:
        """Mark ``keys`` for deletion at commit; nothing cascades."""
        texts = [key_text(k) for k in keys]
        self._doomed.extend(texts)
        return DeleteOutcome(
            per_table={self.dataset.table: len(texts)}, per_item={t: {} for t in texts}
        )

    def commit(self) -> None:
        """Delete what was marked; keys the store refused go to :attr:`failed`."""
        if self._doomed:
            self.failed.update(self.dataset.remove(self._doomed))
            self._doomed = []


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size``."""
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
