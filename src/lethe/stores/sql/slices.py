"""The circuit breaker's counts in slices of a key range, each slice its own short read-only
transaction, so that a caller who has its answer (a threshold crossed) stops reading.

A count of a million due rows and their cascade in one transaction holds a snapshot (and
vacuum back) for seconds. Here the root's rows are read in slices of its key order (keyset:
``key > after AND key <= upto``, the bound found by an index walk of ``rows`` keys), sized by
time like a run's batches. One slice's transaction counts the slice's eligible roots and, for
each *tree* table, the cascade rows of those roots. A tree table is reached by exactly one
cascading edge from the root or from another tree table and references no table of its own:
each of its rows then goes with exactly one root, so the slices' counts add up to the exact
count with no row counted twice.

A *shared* table — two edges reaching it (``therapist_patients``' patient and therapist), so
one of its rows may go with roots of two slices — is sliced by its own key instead: each
slice counts its rows that reference an eligible root (a correlated ``EXISTS``: index probes
of the root, bounded by the slice). This is done where every cascading edge into it comes
from the root itself; any other table (a self-reference, a table below a shared one) is
counted in one transaction, as before this module.

Consistency: each slice is exact at its own instant. Rows added to a slice already counted,
or removed from one not yet counted, are missed or not counted — the same drift as between
any count and the run that follows it (the breaker judges a run that starts later anyway),
and no worse than before, when each cascade table was counted in its own transaction. On data
that does not change during the count the sum is exactly the single-transaction count
(``tests/test_breaker_slices.py``). A slice never holds a key list in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
    true,
    tuple_,
)

from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey
from lethe.stores.base import Counted
from lethe.stores.sql.cascade import Cascade, Edge, identity
from lethe.stores.sql.membership import _like, membership

if TYPE_CHECKING:
    from lethe.stores.sql.dataset import SQLDataset

__all__ = ["removal_counts", "shared_and_tree"]

#: A slice's transaction aims at this many seconds (a run's batches aim at 0.25 s of locks; a
#: read holds only a snapshot, but a slow moment should still end well under half a second).
SLICE_SECONDS = 0.1
FIRST_SLICE = 50_000
MIN_SLICE, MAX_SLICE = 1_000, 2_000_000


def next_slice(rows: int, seconds: float) -> int:
    """The next slice's size, aiming at :data:`SLICE_SECONDS` (growing at most 4× a step,
    shrinking to no less than :data:`MIN_SLICE`, or the size it is if smaller)."""
    if seconds <= 0:
        return min(MAX_SLICE, rows * 4)
    wanted = int(rows * SLICE_SECONDS / seconds)
    return max(min(MIN_SLICE, rows), min(MAX_SLICE, rows * 4, wanted))


def shared_and_tree(cascade: Cascade) -> tuple[list[str], list[str], list[str]]:
    """The cascade's tables: counted with their roots' slice (tree), sliced by their own key
    (shared, every edge from the root), and counted whole (the rest)."""
    edges = cascade.cascading()
    root = cascade.root.name
    tree: list[str] = []
    shared: list[str] = []
    whole: list[str] = []
    into: dict[str, list[Edge]] = {}
    for edge in edges:
        into.setdefault(edge.child.name, []).append(edge)
    for name in reversed(cascade.tables):  # parents first
        incoming = into.get(name, [])
        parents = {e.parent.name for e in incoming}
        if name in parents:
            whole.append(name)
        elif len(incoming) == 1 and parents <= {root, *tree}:
            tree.append(name)
        elif incoming and parents == {root}:
            shared.append(name)
        else:
            whole.append(name)
    return tree, shared, whole


def removal_counts(
    ds: SQLDataset,
    condition: Condition,
    exclude: Sequence[ItemKey],
    *,
    limit: int | None,
    cascades: bool,
    first: int | None = None,
) -> Iterator[Counted]:
    """Rows removing the first ``limit`` eligible roots (key order) would remove, slice by
    slice; the sum of what is yielded is the exact count (see the module docstring)."""
    if limit == 0:
        yield Counted(0, last=True)
        return
    tree, shared, whole = shared_and_tree(ds.cascade) if cascades else ([], [], [])
    root = ds.root.name
    looped = any(e.child.name == root for e in ds.cascade.cascading())
    if cascades and (looped or membership(ds.cascade, lambda c: true()) is None):
        # The root references itself, or a cycle between tables (only rows can order it):
        # the store's own counts, unsliced.
        yield from _whole_count(ds, condition, exclude, limit)
        return
    eligible = ds.eligible_clause(condition, exclude)
    after: ItemKey | None = None
    acted = 0
    rows = max(1, first or FIRST_SLICE)
    upto: ItemKey | None = None
    capped = False
    while True:
        started = time.perf_counter()
        with ds.engine.connect() as conn:
            upto = _bound(ds, conn, after, rows)
            in_slice = eligible & _range(ds, after, upto)
            query = select(func.count()).select_from(ds.root).where(in_slice)
            n = int(conn.execute(query).scalar_one())
            if limit is not None and acted + n >= limit:
                capped = True
                if acted + n > limit:
                    upto = _nth(ds, conn, in_slice, limit - acted)
                    in_slice = eligible & _range(ds, after, upto)
                n = limit - acted
            counted = Counted(n, {ds.root.name: n})
            if tree and n:
                clauses = membership(ds.cascade, _among(select(*ds.key_columns).where(in_slice)))
                assert clauses is not None  # no cycle (checked above)
                for name in tree:
                    member = ds.cascade.member(name)
                    query = select(func.count()).select_from(member).where(clauses[name])
                    counted.rows[name] = int(conn.execute(query).scalar_one())
            conn.rollback()
        acted += n
        done = capped or upto is None
        counted.last = done and not shared and not whole
        yield counted
        if done:
            break
        after = upto
        rows = next_slice(rows, time.perf_counter() - started)
    if not acted:
        if shared or whole:
            yield Counted(0, last=True)
        return
    chosen = eligible if not capped or upto is None else eligible & (ds.key <= upto)
    for index, name in enumerate(shared):
        final = index == len(shared) - 1 and not whole
        yield from _own_slices(ds, name, chosen, first, final)
    if whole:
        counts = _whole_tables(ds, chosen, whole)
        yield Counted(0, counts, last=True)


def _among(roots: Select[Any]) -> Callable[[ColumnElement[Any]], ColumnElement[bool]]:
    return lambda col: col.in_(roots)


def _range(ds: SQLDataset, after: ItemKey | None, upto: ItemKey | None) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = true()
    if after is not None:
        clause = clause & (ds.key > after)
    if upto is not None:
        clause = clause & (ds.key <= upto)
    return clause


def _bound(ds: SQLDataset, conn: Connection, after: ItemKey | None, rows: int) -> ItemKey | None:
    """The key ``rows`` rows after ``after`` in key order (None: fewer are left)."""
    query = select(*ds.key_columns).order_by(*ds.key_columns).offset(rows - 1).limit(1)
    if after is not None:
        query = query.where(ds.key > after)
    row = conn.execute(query).first()
    return None if row is None else ds.key_of(row)


def _nth(ds: SQLDataset, conn: Connection, clause: ColumnElement[bool], n: int) -> ItemKey:
    """The key of the ``n``-th root (key order) matching ``clause``."""
    query = select(*ds.key_columns).where(clause).order_by(*ds.key_columns).offset(n - 1).limit(1)
    return ds.key_of(conn.execute(query).one())


def _own_slices(
    ds: SQLDataset, name: str, chosen: ColumnElement[bool], first: int | None, final: bool
) -> Iterator[Counted]:
    """A shared table's rows that reference a chosen root, in slices of its own key."""
    table = ds.cascade.member(name)
    ident = [table.c[c] for c in identity(table)]
    own = ident[0] if len(ident) == 1 else _tuple(ident)
    refs: list[ColumnElement[bool]] = []
    for edge in ds.cascade.cascading():
        if edge.child.name != name:
            continue
        link = and_(
            *(
                table.c[c] == _like(ds.root.c[p], table.c[c])
                for c, p in zip(edge.columns, edge.parent_columns, strict=True)
            ),
            *(table.c[column] == value for column, value in edge.when),
        )
        refs.append(exists(select(1).select_from(ds.root).where(link, chosen)))
    reached = or_(*refs)
    after: Any = None
    rows = max(1, first or FIRST_SLICE)
    while True:
        started = time.perf_counter()
        with ds.engine.connect() as conn:
            bound: Select[Any] = select(*ident).order_by(*ident).offset(rows - 1).limit(1)
            if after is not None:
                bound = bound.where(own > after)
            found = conn.execute(bound).first()
            upto = None if found is None else (found[0] if len(ident) == 1 else tuple(found))
            clause = reached
            if after is not None:
                clause = clause & (own > after)
            if upto is not None:
                clause = clause & (own <= upto)
            query = select(func.count()).select_from(table).where(clause)
            n = int(conn.execute(query).scalar_one())
            conn.rollback()
        yield Counted(0, {name: n}, last=final and upto is None)
        if upto is None:
            return
        after = upto
        rows = next_slice(rows, time.perf_counter() - started)


def _tuple(columns: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    return tuple_(*columns)


def _whole_tables(
    ds: SQLDataset, chosen: ColumnElement[bool], names: Sequence[str]
) -> dict[str, int]:
    """The tables no slicing applies to, each counted in one transaction of its own."""
    roots = select(*ds.key_columns).where(chosen)
    clauses = membership(ds.cascade, lambda col: col.in_(roots))
    assert clauses is not None
    counts: dict[str, int] = {}
    with ds.engine.connect() as conn:
        for name in names:
            query = select(func.count()).select_from(ds.cascade.member(name)).where(clauses[name])
            counts[name] = int(conn.execute(query).scalar_one())
            conn.rollback()
    return counts


def _whole_count(
    ds: SQLDataset, condition: Condition, exclude: Sequence[ItemKey], limit: int | None
) -> Iterator[Counted]:
    eligible, _ = ds.count(condition, exclude=exclude)
    acting = eligible if limit is None else min(eligible, limit)
    counted = Counted(acting, {ds.root.name: acting}, last=True)
    if acting:
        for name, rows in ds.cascade_counts_where(condition, exclude=exclude, limit=acting).items():
            counted.rows[name] = counted.rows.get(name, 0) + rows
    yield counted
