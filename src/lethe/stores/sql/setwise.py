"""Removing a batch table by table in SQL, for cascades that need no row-by-row judgement.

Where every edge of a cascade cascades, its tables form no cycle and no self-reference, and
no edge is a generic relation (a condition on its rows, a text column holding a number) — the
common shape: children, grandchildren, a table reached along two paths — no item can be
blocked, nothing is set NULL, no row of the dataset's own table is reached besides the items,
and children can always go before their parents table by table. Reading the closure into
Python (:mod:`.closure`) then buys nothing: the rows go by one ``DELETE`` per edge, children
first, matching the batch's bound keys or the parent table's membership of the batch
(:mod:`.membership`), and returning only the columns that say which item each row went with.

Counts match :func:`lethe.stores.sql.removal.remove` exactly: distinct rows per table, each
counted for the first item in batch order whose deletion set holds it (the first owner of a
row is the first of its parents' first owners, so it is computed parents first from what the
deletes returned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, String, Table, delete, select, tuple_
from sqlalchemy.engine import Connection

from lethe.errors import LiveCheckError
from lethe.model.keys import key_text
from lethe.stores.sql import chained as _chained
from lethe.stores.sql.cascade import Cascade, Edge
from lethe.stores.sql.chained import Chain
from lethe.stores.sql.closure import MAX_ROWS
from lethe.stores.sql.keysets import KeySet
from lethe.stores.sql.membership import membership
from lethe.stores.sql.removal import Removal

__all__ = ["applies", "chained", "remove"]

#: Dialects whose ``DELETE … RETURNING`` lethe relies on here (MariaDB's refuses some
#: subqueries on the table being deleted from, MySQL has none: both take the row path).
_DIALECTS = frozenset({"postgresql", "sqlite"})


def applies(cascade: Cascade, dialect: str) -> bool:
    """Whether ``cascade`` can be removed table by table (see the module's docstring)."""
    if dialect not in _DIALECTS or not cascade.edges or len(cascade.key) != 1:
        return False  # a composite key is matched by tuples: the row path
    if any(e.treatment != "cascade" or e.child.name == e.parent.name for e in cascade.edges):
        return False
    if any(e.child.name == cascade.root.name for e in cascade.edges):
        return False
    if any(e.when or _converts(e) for e in cascade.edges):
        return False  # a generic relation: judged row by row
    return membership(cascade, lambda c: c.is_(None)) is not None


def _converts(edge: Edge) -> bool:
    """A text column referencing a number (or the reverse): values compare only converted."""
    return any(
        isinstance(edge.child.c[c].type, String) != isinstance(edge.parent.c[p].type, String)
        for c, p in zip(edge.columns, edge.parent_columns, strict=True)
    )


def _columns(cascade: Cascade, table: Table) -> list[str]:
    """What a delete from ``table`` returns: its ends of every edge."""
    names: list[str] = list(cascade.key) if table.name == cascade.root.name else []
    for edge in cascade.edges:
        if edge.child.name == table.name:
            names += [c for c in edge.columns if c not in names]
        if edge.parent.name == table.name:
            names += [c for c in edge.parent_columns if c not in names]
    return names


def remove(
    conn: Connection,
    cascade: Cascade,
    keyset: KeySet,
    items: Sequence[str],
    keys: Sequence[Any],
    due: ColumnElement[bool],
    *,
    chain: Chain | None = None,
) -> Removal:
    """Delete ``keys`` (whose key texts are ``items``, in batch order) and their cascades,
    children first; ``due`` guards the items' own rows. With ``chain`` (:func:`chained`, made
    with the same ``due``) as one statement, the server counting what went with each item."""
    if chain is not None:
        return _chained.remove(conn, chain, keyset, items, keys)
    params = keyset.params(keys)
    returned: dict[str, tuple[list[str], list[Any]]] = {}
    total = 0
    for table, where in _statements(cascade, keyset, due):
        columns = _columns(cascade, table)
        returning = [table.c[c] for c in columns]
        statement = delete(table).where(where).returning(*returning)
        rows = _returned(conn, statement, params, returning)
        returned.setdefault(table.name, (columns, []))[1].extend(rows)
        total += len(rows)
        if total > MAX_ROWS:
            raise LiveCheckError(
                f"one batch of {cascade.root.name} would reach more than {MAX_ROWS} rows "
                "through its cascade; lower batch_size"
            )
    return _counted(cascade, items, returned)


def _returned(
    conn: Connection, statement: Any, params: dict[str, Any], columns: Sequence[Any]
) -> list[Any]:
    """The rows ``statement`` returned. Where no returned column's type converts what the
    driver gives (link columns are keys: integers, text), the driver's own tuples — what
    SQLAlchemy's rows would hold, without building one per row (~1 µs each, 60,000 a
    10,000-item purge of the bench's schema)."""
    dialect = conn.dialect
    result = conn.execute(statement, params)
    if any(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns):
        return list(result.all())
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def chained(cascade: Cascade, keyset: KeySet, due: ColumnElement[bool]) -> Chain:
    """The deletes of one batch as one statement (where the dialect has ``chained_deletes``:
    :mod:`.chained`)."""
    statements = _statements(cascade, keyset, due)
    ends = {t.name: _columns(cascade, t) for t, _ in statements}
    return _chained.build(cascade, keyset, statements, ends)


def _statements(
    cascade: Cascade, keyset: KeySet, due: ColumnElement[bool]
) -> list[tuple[Table, ColumnElement[bool]]]:
    """The deletes of one batch, children first: one per edge (an ``OR`` of a table's edges
    would scan the table), an edge that references the batch's keys themselves matched
    against the bound keys, any other through its parent's membership. A row two statements
    match goes with the first; the second no longer finds it."""
    clauses = membership(cascade, keyset.match)
    assert clauses is not None  # applies() said so
    root = cascade.root
    found: list[tuple[Table, ColumnElement[bool]]] = []
    for table in cascade.members:
        for edge in cascade.edges:
            if edge.child.name != table.name:
                continue
            if edge.parent is root and edge.parent_columns == cascade.key:
                found.append((table, keyset.match(table.c[edge.columns[0]])))
            else:
                inner = select(*(edge.parent.c[c] for c in edge.parent_columns))
                where = inner.where(clauses[edge.parent.name])
                found.append((table, _refers(table, edge.columns, where)))
    found.append((root, keyset.match(root.c[cascade.key[0]]) & due))
    return found


def _refers(table: Table, columns: Sequence[str], inner: Select[Any]) -> ColumnElement[bool]:
    cols = [table.c[c] for c in columns]
    return cols[0].in_(inner) if len(cols) == 1 else tuple_(*cols).in_(inner)


def _counted(
    cascade: Cascade, items: Sequence[str], returned: dict[str, tuple[list[str], list[Any]]]
) -> Removal:
    order = {item: index for index, item in enumerate(items)}
    result = Removal(per_item={item: {} for item in items})
    root = cascade.root.name
    columns, rows = returned[root]
    at = columns.index(cascade.key[0])
    #: Per table, the first owner (an index into ``items``) of each row deleted, in order.
    first: dict[str, list[int]] = {root: [order[key_text(row[at])] for row in rows]}
    result.roots_deleted = len(rows)
    # A parent's rows by the columns an edge references: several edges name the same ones
    # (every child of the root references its key), so each map is built once.
    by_parent: dict[tuple[str, tuple[str, ...]], dict[Any, int]] = {}
    missing = len(items)
    for table in reversed(cascade.members):  # parents first
        columns, rows = returned[table.name]
        # Every row deleted was reached through one edge at least: its first owner is the
        # first found through any of them.
        owners: list[int] | None = None
        for edge in cascade.edges:
            if edge.child.name != table.name:
                continue
            place = (edge.parent.name, tuple(edge.parent_columns))
            if place not in by_parent:
                by_parent[place] = _owners(edge, returned, first)
            get = by_parent[place].get
            through = [get(v, missing) for v in _values(rows, _positions(columns, edge.columns))]
            owners = through if owners is None else list(map(min, owners, through))
        owners = owners if owners is not None else [missing] * len(rows)
        first[table.name] = owners
        if owners:
            result.deleted[table.name] = len(owners)
        for owner, n in Counter(owners).items():
            result.per_item[items[owner]][table.name] = n
    return result


def _positions(columns: list[str], wanted: Sequence[str]) -> int | tuple[int, ...]:
    """Where ``wanted`` are in a returned row: one index for one column, else a tuple."""
    places = tuple(columns.index(c) for c in wanted)
    return places[0] if len(places) == 1 else places


def _values(rows: Sequence[Sequence[Any]], at: int | tuple[int, ...]) -> list[Any]:
    """Each row's value at ``at`` (a tuple of values for several places)."""
    if isinstance(at, int):
        return [row[at] for row in rows]
    return [tuple(row[i] for i in at) for row in rows]


def _owners(
    edge: Edge, returned: dict[str, tuple[list[str], list[Any]]], first: dict[str, list[int]]
) -> dict[Any, int]:
    """The first owner of each deleted row of ``edge``'s parent, by its referenced columns."""
    columns, rows = returned[edge.parent.name]
    found: dict[Any, int] = {}
    at = _positions(columns, edge.parent_columns)
    for value, owner in zip(_values(rows, at), first[edge.parent.name], strict=True):
        if owner < found.get(value, owner + 1):
            found[value] = owner
    return found
