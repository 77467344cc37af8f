"""The interface every store offers the engine and the actions.

A store holds items of one kind (SQL rows, objects, keys). The engine never asks which kind:
it plans through :class:`DatasetHandle` and acts through :class:`Batch`, and each action only
calls the two verbs on :class:`Batch`. Contract, for every implementation:

* ``select``/``count`` only read; they never lock or change anything.
* ``open_batch`` returns a context manager; items returned by :meth:`Batch.lock` stay locked
  (where the store can lock) until the context ends. Leaving the context normally commits,
  leaving it by an exception rolls back everything done through the batch.
* ``lock`` re-evaluates the condition inside the batch, so an item that stopped being due
  since planning is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "Batch",
    "DatasetHandle",
    "DatasetUse",
    "DeleteOutcome",
    "Finding",
    "HeldFn",
    "Item",
    "PartitionDrops",
    "PartitionFacts",
    "RelatedLookup",
    "SharesTransaction",
    "Store",
]


#: Which of some key texts are held (lethe's hold registry).
HeldFn = Callable[[Sequence[str]], AbstractSet[str]]


@dataclass(frozen=True, slots=True)
class Item:
    """An item selected or locked; ``held`` says the application's own hold table holds it.

    ``unreadable`` marks an item the store returned although the condition could not be
    judged (its age field is missing or malformed): it is skipped and counted, never acted on.
    """

    key: ItemKey
    held: bool = False
    unreadable: bool = False


@dataclass
class DeleteOutcome:
    """What a delete removed (or, previewed, would remove).

    Counts are of distinct rows: ``per_table`` counts each row that left a table once, and
    ``per_item`` attributes each cascaded row to one item only (the first in key order of
    those whose deletion reached it), so per-item counts add up to the per-table ones.
    """

    per_table: dict[str, int] = field(default_factory=dict)
    per_item: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Rows set NULL or to their default, per table (referencing rows kept).
    updated: dict[str, int] = field(default_factory=dict)
    #: Item → table → keys of the rows updated because of it.
    updated_keys: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: Items left alone because a row the schema protects references them (item → why).
    blocked: dict[str, str] = field(default_factory=dict)
    #: Items a preview found removed by an earlier batch's cascade before their own batch
    #: (a due row in another's self-referencing tree): neither acted on nor blocked.
    swept: set[str] = field(default_factory=set)

    def cascaded(self, table: str, acted: int) -> dict[str, int]:
        """Rows per table beyond the ``acted`` items' own rows of ``table`` (the dataset's)."""
        rows = dict(self.per_table)
        rows[table] = rows.get(table, 0) - acted
        return {name: n for name, n in rows.items() if n}


class Batch(Protocol):
    """One short transaction on a dataset (see the module docstring for the contract).

    ``failed`` names the items (key text → why) the batch could not act on although it
    committed: a store without transactions (object storage, Redis) may apply part of a
    batch, e.g. a DeleteObjects reply with per-key errors; an action may add items it left
    alone. The executor reads it after the commit: those items get a ``skipped_error`` event
    instead of the action's, and are left for the next run. Transactional stores leave it
    empty: when they refuse a change for the data it touched (a constraint, a trigger), they
    roll the whole batch back and raise :class:`~lethe.errors.DataRefusedError`, and the
    executor finds the refused items by bisection (:mod:`lethe.engine.bisection`).
    """

    failed: dict[str, str]
    #: Items the batch refused to delete because the data forbids it (a row referencing
    #: them through a ``RESTRICT``/``NO ACTION`` foreign key), key text → why. The executor
    #: records them as ``skipped_blocked``; they are tried again by the next run.
    blocked: dict[str, str]

    def lock(
        self,
        condition: Condition,
        *,
        keys: Sequence[ItemKey] | None = None,
        after: ItemKey | None = None,
        limit: int,
        skip_locked: bool,
    ) -> list[Item]:
        """Lock and return, in key order, up to ``limit`` items selected by ``condition``.

        Either restricted to ``keys`` (a plan's items) or to keys strictly after ``after``.
        """
        ...

    def update(self, keys: Sequence[ItemKey], values: Mapping[str, Any]) -> int:
        """Set ``values`` on the locked items ``keys``; returns the number of items changed."""
        ...

    def blockers(self, keys: Sequence[ItemKey], held: HeldFn | None = None) -> Mapping[str, str]:
        """Which of the locked items ``keys`` may not be deleted now, with why (added to
        :attr:`blocked`); judged for all of them before anything is deleted. ``held`` says
        which other items lethe's registry holds: an item whose cascade reaches a held item
        of the same dataset (a self-reference) is kept."""
        ...

    def delete(self, keys: Sequence[ItemKey]) -> DeleteOutcome:
        """Delete the locked items ``keys`` with their cascade, children first (after
        :meth:`blockers`, with the items it did not block)."""
        ...


@runtime_checkable
class SharesTransaction(Protocol):
    """Optional for a :class:`Batch`: its transaction can carry lethe's own writes.

    When lethe's state database is the database the batch writes to (``[state] url`` the same
    as the store's), the executor appends the batch's audit events, the chain head and its
    file retry rows through this connection, before the batch commits: one commit for the
    deletion and its audit, which a crash keeps or loses together. Only a batch that applies
    all of its items or none (``failed`` stays empty) may offer it.
    """

    def shared_connection(self, state_url: str) -> Connection | None:
        """The batch's own connection when ``state_url`` names its database, else None."""
        ...


class DatasetHandle(Protocol):
    """A dataset bound to its store: reads for planning, batches for acting."""

    @property
    def table(self) -> str:
        """The name reported for this dataset's items (a table, a prefix, a key pattern)."""
        ...

    @property
    def locks(self) -> bool:
        """Whether a batch holds locks others wait for (rows, or SQLite's database lock) until
        it commits: the executor then sizes batches by time so that no lock is held long."""
        ...

    @property
    def skips_locked(self) -> bool:
        """Whether ``lock(skip_locked=True)`` may pass over items another transaction holds
        (the executor then ends a phase with a final pass that waits for them)."""
        ...

    def select(
        self,
        condition: Condition,
        *,
        after: ItemKey | None = None,
        limit: int,
        exclude: Sequence[ItemKey] = (),
    ) -> list[Item]:
        """Read up to ``limit`` items selected by ``condition`` after ``after``, in key order."""
        ...

    def iter_select(self, condition: Condition, *, page: int = 5000) -> Iterator[Item]:
        """Every item selected by ``condition``, streamed in key order."""
        ...

    def count(self, condition: Condition, *, exclude: Sequence[ItemKey] = ()) -> tuple[int, int]:
        """``(eligible, held)``: items selected and not held, and items selected but held.

        Items whose key is in ``exclude`` (held in lethe's registry) count as held.
        """
        ...

    def eligible_keys(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int
    ) -> list[ItemKey]:
        """The first ``limit`` keys, in key order, of the items :meth:`count` counts as
        eligible (selected, not held, not in ``exclude``): samples that read ``limit`` keys,
        never every key."""
        ...

    def preview_delete(
        self,
        keys: Sequence[ItemKey],
        *,
        batch_size: int,
        held: HeldFn | None = None,
        limit: int | None = None,
    ) -> DeleteOutcome:
        """What deleting ``keys`` in batches of ``batch_size`` (in the order given: key order,
        as the store sorts) would do, with reads only: items blocked or swept, and the rows
        per table (their own included) and rows updated of the first ``limit`` items neither
        blocked nor swept, as a capped run takes them (judging stops there). A preview counts
        per table, not per item: ``per_item`` and ``updated_keys`` stay empty."""
        ...

    def cascade_counts_where(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int | None
    ) -> dict[str, int]:
        """Rows each cascade table would lose for the first ``limit`` selected, unheld items
        (in key order; all of them when ``limit`` is None)."""
        ...

    def table_sizes(self) -> dict[str, int]:
        """Current row counts of the dataset's table and its cascade tables."""
        ...

    def fetch(self, keys: Sequence[ItemKey], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Current values of ``columns`` for the items that exist, keyed by key text."""
        ...

    def require_columns(self, columns: set[str]) -> None:
        """Raise :class:`~lethe.errors.LiveCheckError` unless every column exists."""
        ...

    def parse_key(self, text: str) -> ItemKey:
        """A key typed by a user, converted to the store's native key type."""
        ...

    def open_batch(self) -> AbstractContextManager[Batch]:
        """Begin a short transaction (see the module docstring)."""
        ...


@runtime_checkable
class RelatedLookup(Protocol):
    """Optional for a :class:`DatasetHandle`: reading a value through a foreign key.

    A warning's recipient may live in another table (the survey owner's email); stores that
    have tables offer this, others do not and ``lethe check`` says so.
    """

    def check_related(self, table: str, columns: set[str]) -> None:
        """Raise :class:`~lethe.errors.LiveCheckError` unless ``table`` has ``columns``."""
        ...

    def lookup_related(
        self, keys: Sequence[ItemKey], column: str, table: str, key: str, value: str
    ) -> dict[str, Any]:
        """Per item (key text): ``value`` of the row of ``table`` whose ``key`` equals the
        item's ``column``; items without such a row are left out."""
        ...


@dataclass(frozen=True)
class PartitionFacts:
    """A partition of a dataset whose items are all due, dropped whole instead of item by item.

    ``rows``, ``first``/``last`` (lowest and highest key) and ``keys_sha256`` (SHA-256 of the
    key texts in key order, one per line) are read under the lock that precedes the drop; a
    partition only listed as droppable has ``rows`` and ``bound`` alone.
    """

    name: str
    bound: str
    rows: int
    first: str | None = None
    last: str | None = None
    keys_sha256: str | None = None
    #: Left detached from its table by an interrupted run: the next run finishes it.
    detached: bool = False

    def details(self) -> dict[str, Any]:
        """The audit event's details (never row contents: counts, keys' range and digest)."""
        return {
            "partition": self.name,
            "bound": self.bound,
            "rows": self.rows,
            "keys": {"first": self.first, "last": self.last, "sha256": self.keys_sha256},
        }


@runtime_checkable
class PartitionDrops(Protocol):
    """Optional for a :class:`DatasetHandle`: removing a whole partition of due items at once.

    A partition qualifies when every item in it is selected and none is held (by lethe's
    registry: ``exact`` keys and key ``prefixes``; or by the application's hold table), and
    nothing references its items. :meth:`drop_partition` checks this again under a lock that
    keeps every writer out, calls ``record`` with the partition's facts (the executor's batch
    intent) and only then drops it; a partition that no longer qualifies is left as it was,
    its items to the row path.
    """

    def droppable(
        self, condition: Condition, exact: Sequence[str], prefixes: Sequence[str]
    ) -> list[PartitionFacts]:
        """Partitions that qualify now (reads only), with those an interrupted run left."""
        ...

    def drop_partition(
        self,
        partition: PartitionFacts,
        condition: Condition,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
        record: Callable[[PartitionFacts], None],
    ) -> PartitionFacts | None:
        """Drop ``partition`` if it still qualifies; its facts, or None if it was kept."""
        ...

    def partitions_gone(self, names: Sequence[str]) -> set[str]:
        """Which of the partitions ``names`` no longer exist (settling a crashed drop)."""
        ...

    def restore_partitions(
        self, condition: Condition, exact: Sequence[str], prefixes: Sequence[str]
    ) -> list[str]:
        """Put back, untouched, the partitions an interrupted drop left out of their table
        that no longer qualify (a hold came since, or the dataset now says
        ``partitions = "rows"``), so that their items take the row path; their names."""
        ...

    def partition_of(self, key: ItemKey) -> str | None:
        """The partition holding the item ``key``, if it exists."""
        ...


@dataclass(frozen=True)
class Finding:
    """One result of checking a dataset against its live store."""

    level: str  # "ok", "warning" or "error"
    dataset: str
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class DatasetUse:
    """How the policies use one dataset: columns read and written, and whether rows go."""

    dataset: str
    config: Any
    reads: set[str]
    writes: set[str]
    deletes: bool
    #: Columns read from other tables (a warning's recipient through a foreign key).
    related: dict[str, set[str]] = field(default_factory=dict)


class Store(Protocol):
    """A store selected by URL scheme (see :mod:`lethe.stores.registry`)."""

    name: str

    def bind(self, dataset: str, config: Any) -> DatasetHandle:
        """The handle of a dataset in this store (validated against the live store)."""
        ...

    def check(self, dataset: str, config: Any) -> list[Finding]:
        """Live checks of one dataset: existence, keys, indexes for cascades."""
        ...

    def grants(self, uses: Sequence[DatasetUse], role: str) -> list[str]:
        """Least-privilege statements (GRANTs, IAM, ACL) covering ``uses``.

        A use whose ``config`` is None is the run-record prefix (``writes``) of a store that
        keeps run records.
        """
        ...

    def write_document(self, path: str, document: Mapping[str, Any]) -> None:
        """Keep a JSON document (a run record) at ``path``; only blob stores can."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
