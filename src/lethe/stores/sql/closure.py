"""What deleting one batch's items does to the rows around them, read inside its transaction.

For each item R its *deletion set* D(R) is R's row plus every row reached from it through
cascade edges, transitively (self-references and cycles included: the walk is breadth-first
over rows, so depth costs no recursion). R is *blocked* when a row outside D(R) references a
row of D(R) through a ``block`` edge, or any row references one through a ``protect``
edge. Every item of the batch is judged against the rows as they are before any of the
batch's changes, so items of one batch never unblock each other.
Rows that reference the deleted rows through a ``set_null``/``set_default`` edge, and are not
deleted themselves, are updated.

:func:`judge` only reads; :mod:`lethe.stores.sql.removal` applies a :class:`Closure`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, select, tuple_
from sqlalchemy.engine import Connection

from lethe.errors import LiveCheckError
from lethe.model.keys import ItemKey, key_text
from lethe.stores.sql.cascade import Cascade, Edge, identity

__all__ = [
    "MAX_DEPTH",
    "MAX_ROWS",
    "Closure",
    "HeldRows",
    "Ident",
    "Updates",
    "item_of",
    "judge",
    "rows_where",
    "updates",
]

Ident = tuple[Any, ...]

#: Which rows of the root table, by key, are held (key texts).
HeldRows = Callable[[Connection, Sequence[Any]], set[str]]

#: Rows one batch's closure may hold, and levels it may descend, before lethe refuses it.
MAX_ROWS = 2_000_000
MAX_DEPTH = 10_000

_CHUNK = 500


@dataclass
class Closure:
    """The rows one batch would delete and update, who they belong to, and who is blocked."""

    cascade: Cascade
    #: The items judged (key text).
    items: set[str] = field(default_factory=set)
    #: Per table: identity → the row's columns lethe needs (identity, edge columns).
    rows: dict[str, dict[Ident, dict[str, Any]]] = field(default_factory=dict)
    #: Per table: identity → the items (key text) whose deletion set holds the row.
    owners: dict[str, dict[Ident, set[str]]] = field(default_factory=dict)
    #: Item (key text) → why it is blocked.
    blocked: dict[str, str] = field(default_factory=dict)
    #: Items whose row an earlier batch of the same preview removed (see ``judge``'s ``gone``).
    swept: set[str] = field(default_factory=set)

    def deleted(self, items: set[str]) -> dict[str, dict[Ident, set[str]]]:
        """Rows in the deletion sets of ``items``, per table, with which of them reach it."""
        kept: dict[str, dict[Ident, set[str]]] = {}
        for table, owned in self.owners.items():
            for ident, owners in owned.items():
                live = owners & items
                if live:
                    kept.setdefault(table, {})[ident] = live
        return kept

    def row(self, table: str, ident: Ident) -> dict[str, Any]:
        """The columns read of one row of the closure."""
        return self.rows[table][ident]


def needed_columns(cascade: Cascade, table: Table) -> list[str]:
    """Columns of ``table`` a closure reads: identity, and both ends of every edge."""
    names = list(identity(table))
    if table.name == cascade.root.name:
        names += [c for c in cascade.key if c not in names]
    for edge in cascade.edges:
        if edge.child.name == table.name:
            names += [c for c in (*edge.columns, *dict(edge.when)) if c not in names]
        if edge.parent.name == table.name:
            names += [c for c in edge.parent_columns if c not in names]
    return names


def rows_where(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    match: Sequence[str],
    values: Iterable[Ident],
    when: Sequence[tuple[str, Any]] = (),
) -> list[dict[str, Any]]:
    """``columns`` of the rows whose ``match`` columns hold one of ``values`` (NULLs never
    match, as in a foreign key), and whose ``when`` columns hold their values."""
    wanted = sorted({v for v in values if None not in v}, key=repr)
    found: list[dict[str, Any]] = []
    query = select(*(table.c[c] for c in columns)).where(
        *(table.c[c] == value for c, value in when)
    )
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        clause = _in(table, match, chunk)
        found.extend(dict(row) for row in conn.execute(query.where(clause)).mappings())
    return found


def _in(table: Table, match: Sequence[str], chunk: Sequence[Ident]) -> ColumnElement[bool]:
    if len(match) == 1:
        return table.c[match[0]].in_([v[0] for v in chunk])
    return tuple_(*(table.c[c] for c in match)).in_(bindparam("_tuples", chunk, expanding=True))


def judge(
    conn: Connection,
    cascade: Cascade,
    keys: Sequence[ItemKey],
    gone: Container[tuple[str, Ident]] = frozenset(),
    holds: HeldRows | None = None,
) -> Closure:
    """The closure of ``keys`` (locked rows of the root), read in ``conn``'s transaction.

    ``gone`` are rows to treat as deleted already (a plan previewing later batches); ``holds``
    says which rows of the root table are held (an item reaching one is blocked).
    """
    closure = Closure(cascade, {key_text(k) for k in keys})
    root = cascade.root
    root_cols = needed_columns(cascade, root)
    values = [k if isinstance(k, tuple) else (k,) for k in keys]
    start = rows_where(conn, root, root_cols, cascade.key, values)
    ident_cols = identity(root)
    frontier: dict[str, dict[Ident, dict[str, Any]]] = {root.name: {}}
    for row in start:
        ident = tuple(row[c] for c in ident_cols)
        if (root.name, ident) in gone:
            closure.swept.add(item_of(cascade, row))
            continue
        frontier[root.name][ident] = row
        closure.owners.setdefault(root.name, {})[ident] = {item_of(cascade, row)}
    closure.rows[root.name] = dict(frontier[root.name])
    _walk(conn, closure, frontier, gone)
    _propagate(closure)
    _find_blockers(conn, closure, gone)
    if holds is not None:
        _find_held(conn, closure, holds)
    _release_swept(closure)
    return closure


def _release_swept(closure: Closure) -> None:
    """A blocked item whose own row lies in an unblocked item's deletion set goes with it
    (its blocker is in that set too, or it would block the other item), so it is no longer
    blocked: it is deleted and recorded as an item, not as ``skipped_blocked``.

    One pass suffices: owners are transitive, so a row an unblocked item reaches through a
    released item was already owned by the unblocked one.
    """
    root = closure.cascade.root.name
    free = closure.items - set(closure.blocked)
    for ident, owners in closure.owners.get(root, {}).items():
        item = item_of(closure.cascade, closure.row(root, ident))
        if item in closure.blocked and owners & free:
            del closure.blocked[item]


def item_of(cascade: Cascade, row: Mapping[str, Any]) -> str:
    """The key text of a row of the dataset's table (its key columns read)."""
    if len(cascade.key) == 1:
        return key_text(row[cascade.key[0]])
    return key_text(tuple(row[c] for c in cascade.key))


def _row_key(cascade: Cascade, row: Mapping[str, Any]) -> ItemKey:
    if len(cascade.key) == 1:
        return row[cascade.key[0]]  # type: ignore[no-any-return]
    return tuple(row[c] for c in cascade.key)


def _find_held(conn: Connection, closure: Closure, holds: HeldRows) -> None:
    """Rows of the root table other than the items themselves, reached by a cascade (a
    self-reference, a cycle): a held one keeps every item that reaches it."""
    cascade = closure.cascade
    root = cascade.root.name
    reached = {
        item_of(cascade, row): ident
        for ident, row in closure.rows.get(root, {}).items()
        if item_of(cascade, row) not in closure.items
    }
    if not reached:
        return
    rows = closure.rows[root]
    held = holds(conn, [_row_key(cascade, rows[ident]) for ident in reached.values()])
    for text in sorted(held):
        for item in sorted(closure.owners[root][reached[text]] & closure.items):
            closure.blocked.setdefault(item, f"blocked by a hold on {root} key {text}")


def _walk(
    conn: Connection,
    closure: Closure,
    frontier: dict[str, dict[Ident, dict[str, Any]]],
    gone: Container[tuple[str, Ident]],
) -> None:
    """Breadth-first over cascade edges until no new row is reached."""
    cascade = closure.cascade
    edges = cascade.cascading()
    depth = 0
    total = sum(len(r) for r in closure.rows.values())
    while any(frontier.values()):
        depth += 1
        if depth > MAX_DEPTH:
            raise LiveCheckError(
                f"the cascade of {cascade.root.name} goes deeper than {MAX_DEPTH} levels; "
                "a batch this deep is refused (lower batch_size, or check the data for a loop)"
            )
        reached: dict[str, dict[Ident, dict[str, Any]]] = {}
        for edge in edges:
            parents = frontier.get(edge.parent.name)
            if not parents:
                continue
            values = {edge.parent_key(r) for r in parents.values()}
            child = edge.child
            ident_cols = identity(child)
            known = closure.rows.setdefault(child.name, {})
            columns = needed_columns(cascade, child)
            for row in rows_where(conn, child, columns, edge.columns, values, edge.when):
                ident = tuple(row[c] for c in ident_cols)
                if ident not in known and (child.name, ident) not in gone:
                    known[ident] = row
                    reached.setdefault(child.name, {})[ident] = row
                    total += 1
        if total > MAX_ROWS:
            raise LiveCheckError(
                f"one batch of {cascade.root.name} would reach more than {MAX_ROWS} rows "
                "through its cascade; lower batch_size"
            )
        frontier = reached


def _index(closure: Closure, edge: Edge) -> dict[Ident, Ident]:
    """Rows of the closure in ``edge``'s parent table by the key its child rows reference."""
    table = edge.parent.name
    ident_cols = identity(closure.cascade.member(table))
    return {
        edge.parent_key(row): tuple(row[c] for c in ident_cols)
        for row in closure.rows.get(table, {}).values()
    }


def _propagate(closure: Closure) -> None:
    """Each row's owners: the items whose deletion set reaches it (a fixpoint over rows)."""
    children: dict[tuple[str, Ident], list[tuple[str, Ident]]] = {}
    for edge in closure.cascade.cascading():
        parents = _index(closure, edge)
        ident_cols = identity(edge.child)
        for row in closure.rows.get(edge.child.name, {}).values():
            if not edge.matches(row):
                continue
            parent = parents.get(edge.child_key(row))
            if parent is not None:
                child = (edge.child.name, tuple(row[c] for c in ident_cols))
                children.setdefault((edge.parent.name, parent), []).append(child)
    root = closure.cascade.root.name
    pending = [(root, ident) for ident in closure.owners.get(root, {})]
    while pending:
        table, ident = pending.pop()
        mine = closure.owners[table][ident]
        for child_table, child in children.get((table, ident), []):
            theirs = closure.owners.setdefault(child_table, {}).setdefault(child, set())
            if not mine <= theirs:
                theirs |= mine
                pending.append((child_table, child))


def _referencing(
    conn: Connection, closure: Closure, edge: Edge
) -> list[tuple[Ident, Ident, dict[str, Any]]]:
    """(referenced identity, referencing identity, referencing row) for ``edge``'s rows that
    point at a row of the closure."""
    parents = _index(closure, edge)
    if not parents:
        return []
    ident_cols = identity(edge.child)
    columns = list(dict.fromkeys([*ident_cols, *edge.columns]))
    found = []
    for row in rows_where(conn, edge.child, columns, edge.columns, parents, edge.when):
        parent = parents[edge.child_key(row)]
        found.append((parent, tuple(row[c] for c in ident_cols), row))
    return found


def _find_blockers(conn: Connection, closure: Closure, gone: Container[tuple[str, Ident]]) -> None:
    for edge in closure.cascade.blocking():
        owners = closure.owners.get(edge.parent.name, {})
        theirs = closure.owners.get(edge.child.name, {})
        for parent, child, row in _referencing(conn, closure, edge):
            if (edge.child.name, child) in gone:
                continue
            # A protecting row keeps its parent even when the purge would delete it too.
            spared = set() if edge.treatment == "protect" else theirs.get(child, set())
            for item in sorted(owners.get(parent, set()) - spared):
                closure.blocked.setdefault(item, _reason(edge, row, child))


def _reason(edge: Edge, row: Mapping[str, Any], child: Ident) -> str:
    value = ",".join(str(row[c]) for c in edge.columns)
    key = ",".join(str(v) for v in child)
    if edge.label:
        return f"blocked by {edge.label}: {edge.child.name} key {key} ({edge.name} = {value})"
    return f"blocked by {edge.name} = {value} ({edge.child.name} key {key})"


Updates = dict[str, dict[Ident, tuple[list[Edge], set[str]]]]


def updates(
    conn: Connection, closure: Closure, deleted: Mapping[str, Mapping[Ident, set[str]]]
) -> Updates:
    """Rows outside ``deleted`` that reference it through a ``set_null``/``set_default`` edge:
    per table, identity → (the edges to apply, the items it is updated for)."""
    found: Updates = {}
    for edge in closure.cascade.edges:
        if edge.treatment not in {"set_null", "set_default"}:
            continue
        owners = deleted.get(edge.parent.name, {})
        gone = deleted.get(edge.child.name, {})
        if not owners:
            continue
        for parent, child, _row in _referencing(conn, closure, edge):
            items = owners.get(parent)
            if not items or child in gone:
                continue
            edges, for_items = found.setdefault(edge.child.name, {}).setdefault(child, ([], set()))
            if edge not in edges:
                edges.append(edge)
            for_items |= items
    return found
