"""The rows earlier batches of a previewed purge removed, as later batches must see them.

A plan judges a purge batch by batch, reading only, so a later batch still finds the rows an
earlier one would have deleted; those are treated as gone. Remembering every one of them grew
a plan's memory with the purge (600k row identities at 1M profiles). Most cannot be met again:
a row reached through its table's only foreign key hangs from one parent row, and the walk
meets it only through that parent. So only the rows of tables reached more than one way are
kept, and of a table whose every foreign key references the dataset's own key, each row only
until the batches have passed the last previewed key it references.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Column, Index, Table, UniqueConstraint

from lethe.model.keys import ItemKey
from lethe.stores.sql.cascade import Cascade, Edge, identity
from lethe.stores.sql.closure import Closure, Ident

__all__ = ["Gone", "places", "revisited"]

#: A previewed key's place in the preview, or None for a value that is not one of its keys.
Place = Callable[[Any], int | None]


class Gone:
    """``(table, identity) in gone``: removed by an earlier batch of the same preview."""

    def __init__(self, cascade: Cascade, keys: Sequence[ItemKey]) -> None:
        """For a preview of ``keys``, judged in that order (the only rows of the dataset's
        table a batch starts from)."""
        self._kept: dict[str, set[Ident]] = {t: set() for t in revisited(cascade)}
        self._until = {t: edges for t, edges in _keyed_by_roots(cascade).items() if t in self._kept}
        self._place = places(keys if self._until else ())
        #: For a table of ``_until``: identity → the last place among the keys its row references.
        self._last: dict[str, dict[Ident, int]] = {t: {} for t in self._until}

    def __contains__(self, entry: object) -> bool:
        if not isinstance(entry, tuple) or len(entry) != 2:
            return False
        table, ident = entry
        if table in self._until:
            return ident in self._last[table] or ident in self._kept[table]
        kept = self._kept.get(table)
        return kept is not None and ident in kept

    def __len__(self) -> int:
        return sum(map(len, self._kept.values())) + sum(map(len, self._last.values()))

    def add(
        self, closure: Closure, deleted: Mapping[str, Mapping[Ident, object]], bound: int
    ) -> None:
        """Remember the rows one batch removed that a batch starting at place ``bound`` (or a
        later one) can still reach; forget the ones it no longer can."""
        for table, rows in deleted.items():
            if table not in self._kept:
                continue
            edges = self._until.get(table)
            if edges is None:
                self._kept[table].update(rows)
                continue
            last = self._last[table]
            for ident in rows:
                # A key nobody previews (not due, held back) starts no later batch.
                place = _last_place(edges, closure.row(table, ident), self._place)
                if place is not None and place >= bound:
                    last[ident] = place
        for table, last in self._last.items():
            self._last[table] = {i: p for i, p in last.items() if p >= bound}


def places(keys: Sequence[ItemKey]) -> Place:
    """Each of ``keys``' place in the preview, which judges them in that order.

    Places, not the keys themselves, say which batch holds a key: the database's order of text
    keys need not be Python's. Keys already ascending in Python's order (integer keys always
    are: the database sorts numbers as Python does) are found by bisection in ``keys`` itself;
    any others through a dict of key to place, which at 100k previewed keys is ~8 MB of a
    plan's peak memory.
    """
    ordered: Sequence[Any] = keys  # one column's values: one type, whichever it is
    if all(a < b for a, b in zip(ordered, islice(ordered, 1, None), strict=False)):

        def bisected(value: Any) -> int | None:
            if value is None:
                return None
            try:
                at = bisect_left(ordered, value)
            except TypeError:  # a value not comparable with the keys is none of them
                return None
            return at if at < len(ordered) and ordered[at] == value else None

        return bisected
    return {k: i for i, k in enumerate(keys)}.get


def revisited(cascade: Cascade) -> set[str]:
    """Tables whose rows one batch's closure can meet although an earlier batch reached them:
    those with more than one foreign key in the cascade, or one to non-unique columns, and
    the dataset's own table when anything references it. A row reached through its table's
    only foreign key, to one parent row, is met again only through that parent, which is
    either remembered here (so the walk stops at it) or out of every later batch's reach."""
    incoming = _incoming(cascade)
    again = {t for t, edges in incoming.items() if len(edges) > 1 or not _to_one(edges[0])}
    if cascade.root.name in incoming:
        again.add(cascade.root.name)
    return again


def _incoming(cascade: Cascade) -> dict[str, list[Edge]]:
    incoming: dict[str, list[Edge]] = {}
    for edge in cascade.edges:
        incoming.setdefault(edge.child.name, []).append(edge)
    return incoming


def _keyed_by_roots(cascade: Cascade) -> dict[str, list[Edge]]:
    """Tables whose every foreign key is a single column referencing the dataset's own key,
    when nothing references the dataset's table (so its only rows in a closure are the
    batch's items)."""
    incoming = _incoming(cascade)
    root = cascade.root.name
    if root in incoming or len(cascade.key) != 1:
        return {}
    return {
        table: edges
        for table, edges in incoming.items()
        if all(
            e.parent.name == root
            and e.parent_columns == cascade.key
            and len(e.columns) == 1
            and _same_values(e.child.c[e.columns[0]], cascade.root.c[cascade.key[0]])
            for e in edges
        )
    }


def _same_values(referencing: Column[Any], key: Column[Any]) -> bool:
    """The driver gives both columns' values as one Python type (a text column referencing a
    number, as a generic relation's ``object_pk`` does, does not: "7" is not 7)."""
    try:
        return referencing.type.python_type is key.type.python_type
    except NotImplementedError:
        return False


def _to_one(edge: Edge) -> bool:
    """A referencing row names one parent row: the referenced columns are unique."""
    return _unique(edge.parent, set(edge.parent_columns))


def _unique(table: Table, columns: set[str]) -> bool:
    if set(identity(table)) == columns and len(table.primary_key.columns):
        return True
    if len(columns) == 1 and table.c[next(iter(columns))].unique:
        return True
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint} == columns:
            return True
    index: Index
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == columns:
            return True
    return False


def _last_place(edges: Sequence[Edge], row: Mapping[str, Any], place: Place) -> int | None:
    """The last place in the preview among the keys ``row`` references (None: none)."""
    found = [p for e in edges if (p := place(row[e.columns[0]])) is not None]
    return max(found, default=None)
