"""Applying a :class:`~lethe.stores.sql.closure.Closure`: updates first, then deletes in an
order the database accepts.

Referencing rows outside the deletion sets are set NULL (or to their default) first. Then rows
go in rounds, each round the rows no remaining row references (one ``DELETE`` per table per
round), so a child always goes before its parent, row by row, through a self-referencing tree
as much as between tables; the rows a ``CASCADE`` rule would remove behind lethe's back are
gone before the database looks. Rows that reference each other in a cycle are freed by setting
a nullable edge's columns NULL first.

Counts are of distinct rows: a row reached from two items, or through two columns, is deleted
once, counted once (for the first of its items in key order) and audited once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    false,
    literal_column,
    null,
    or_,
    update,
)
from sqlalchemy.engine import Connection

from lethe.stores.sql.cascade import Cascade, Edge, identity
from lethe.stores.sql.closure import Closure, Ident, Updates, _in, item_of, updates

__all__ = ["Removal", "planned", "remove"]


@dataclass
class Removal:
    """What a removal changed: distinct rows per table, and per item."""

    deleted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    #: Item → table → rows deleted with it (each row counted for one item only).
    per_item: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Item → table → keys of the rows updated for it.
    updated_keys: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: Items whose own row was deleted.
    roots_deleted: int = 0


def planned(
    conn: Connection, closure: Closure, items: Sequence[str]
) -> tuple[dict[str, dict[Ident, set[str]]], Updates, Removal]:
    """What removing ``items`` would change, with reads only."""
    deleted = closure.deleted(set(items))
    found = updates(conn, closure, deleted)
    return deleted, found, _counted(closure, items, deleted, found)


def _counted(
    closure: Closure,
    items: Sequence[str],
    deleted: Mapping[str, Mapping[Ident, set[str]]],
    found: Updates,
) -> Removal:
    order = {item: index for index, item in enumerate(items)}
    result = Removal(per_item={item: {} for item in items})
    root = closure.cascade.root.name
    for table, rows in deleted.items():
        for ident, owners in rows.items():
            if table == root and _item_of(closure, ident) in owners:
                continue  # the item's own row, counted as acted
            first = min(owners, key=order.__getitem__)
            counts = result.per_item[first]
            counts[table] = counts.get(table, 0) + 1
    for name, referencing in found.items():
        result.updated[name] = len(referencing)
        for ident, (_edges, reached) in referencing.items():
            first = min(reached, key=order.__getitem__)
            keys = result.updated_keys.setdefault(first, {}).setdefault(name, [])
            keys.append(",".join(str(v) for v in ident))
    return result


def _item_of(closure: Closure, ident: Ident) -> str:
    return item_of(closure.cascade, closure.row(closure.cascade.root.name, ident))


def remove(
    conn: Connection, closure: Closure, items: Sequence[str], due: ColumnElement[bool]
) -> Removal:
    """Update, then delete, the rows of ``items``' deletion sets; ``due`` guards the items'
    own rows (the condition they were locked by)."""
    deleted, found, result = planned(conn, closure, items)
    cascade = closure.cascade
    for table, rows in found.items():
        _apply_updates(conn, cascade.member(table), rows)
    waiting = _dependencies(closure, deleted)
    remaining = {(t, i) for t, rows in deleted.items() for i in rows}
    while remaining:
        referenced = {target for source, target in waiting if source in remaining}
        ready = {row for row in remaining if row not in referenced}
        if not ready:
            ready = _break_cycle(conn, closure, remaining, waiting)
        _delete_round(conn, closure, ready, due, result)
        remaining -= ready
        waiting = {(s, t) for s, t in waiting if s in remaining and t in remaining}
    return result


def _dependencies(
    closure: Closure, deleted: Mapping[str, Mapping[Ident, set[str]]]
) -> set[tuple[tuple[str, Ident], tuple[str, Ident]]]:
    """(referencing row, referenced row) pairs among the rows to delete, over every declared
    edge (an undeclared one is no constraint to order by)."""
    pairs: set[tuple[tuple[str, Ident], tuple[str, Ident]]] = set()
    for edge in closure.cascade.edges:
        if not edge.declared:
            continue
        parents_rows = deleted.get(edge.parent.name)
        children = deleted.get(edge.child.name)
        if not parents_rows or not children:
            continue
        parents = {edge.parent_key(closure.row(edge.parent.name, i)): i for i in parents_rows}
        for ident in children:
            row = closure.row(edge.child.name, ident)
            if not edge.matches(row):
                continue
            target = parents.get(edge.child_key(row))
            if target is not None and (edge.child.name, ident) != (edge.parent.name, target):
                pairs.add(((edge.child.name, ident), (edge.parent.name, target)))
    return pairs


def _break_cycle(
    conn: Connection,
    closure: Closure,
    remaining: set[tuple[str, Ident]],
    waiting: set[tuple[tuple[str, Ident], tuple[str, Ident]]],
) -> set[tuple[str, Ident]]:
    """Rows that reference each other: NULL a nullable edge's columns in the referencing rows
    (they are deleted anyway), which frees their targets; without one, the rest go at once."""
    for edge in closure.cascade.edges:
        if not edge.nullable:
            continue
        sources = {
            s
            for s, t in waiting
            if s[0] == edge.child.name and t[0] == edge.parent.name and s in remaining
        }
        if sources:
            _set_columns(
                conn, edge.child, [s[1] for s in sources], {c: null() for c in edge.columns}
            )
            for source in sources:
                row = closure.row(*source)
                for c in edge.columns:
                    row[c] = None
            freed = {t for s, t in waiting if s in sources and t[0] == edge.parent.name}
            still = {t for s, t in waiting if s not in sources}
            return {row for row in freed if row not in still} or set(remaining)
    return set(remaining)


def _delete_round(
    conn: Connection,
    closure: Closure,
    ready: set[tuple[str, Ident]],
    due: ColumnElement[bool],
    result: Removal,
) -> None:
    cascade = closure.cascade
    by_table: dict[str, list[Ident]] = {}
    for table, ident in ready:
        by_table.setdefault(table, []).append(ident)
    for name, idents in by_table.items():
        target = cascade.member(name)
        if name == cascade.root.name:
            items = {i for i in idents if _item_of(closure, i) in result.per_item}
            others = [i for i in idents if i not in items]
            result.roots_deleted += _delete(conn, target, sorted(items, key=repr), due)
            if others:
                rows = _delete(conn, target, others, None)
                result.deleted[name] = result.deleted.get(name, 0) + rows
        else:
            rows = _delete(conn, target, idents, None)
            result.deleted[name] = result.deleted.get(name, 0) + rows


def _delete(
    conn: Connection, table: Table, idents: Sequence[Ident], guard: ColumnElement[bool] | None
) -> int:
    columns = identity(table)
    total = 0
    for start in range(0, len(idents), 500):
        statement = delete(table).where(_identified(table, columns, idents[start : start + 500]))
        if guard is not None:
            statement = statement.where(guard)
        total += int(conn.execute(statement).rowcount)
    return total


def _identified(
    table: Table, columns: Sequence[str], idents: Sequence[Ident]
) -> ColumnElement[bool]:
    """The rows with these identities. A table without a primary key is identified by all its
    columns, NULLs included, and ``col IN (NULL)`` matches nothing: such rows are matched
    column by column with ``IS NULL``."""
    plain = [i for i in idents if None not in i]
    clauses = [_in(table, columns, plain)] if plain else []
    for ident in idents:
        if None in ident:
            clauses.append(
                and_(
                    *(
                        table.c[c].is_(None) if v is None else table.c[c] == v
                        for c, v in zip(columns, ident, strict=True)
                    )
                )
            )
    return or_(*clauses) if clauses else false()


def _apply_updates(
    conn: Connection, table: Table, rows: Mapping[Ident, tuple[list[Edge], set[str]]]
) -> None:
    """One UPDATE per edge (set of columns) for the rows that reference a deleted row."""
    by_edge: dict[Edge, list[Ident]] = {}
    for ident, (edges, _owners) in rows.items():
        for edge in edges:
            by_edge.setdefault(edge, []).append(ident)
    for edge, idents in by_edge.items():
        values = {c: _new_value(edge, c) for c in edge.columns}
        _set_columns(conn, table, idents, values)


def _new_value(edge: Edge, name: str) -> Any:
    """NULL, the edge's own value, or the column's declared default (NULL without one)."""
    if edge.treatment == "set_null":
        return null()
    if edge.value is not None:
        return edge.value
    default = edge.child.c[name].server_default
    arg = getattr(default, "arg", None)
    if arg is None:
        return null()
    return literal_column(str(getattr(arg, "text", arg)))


def _set_columns(
    conn: Connection, table: Table, idents: Sequence[Ident], values: Mapping[str, Any]
) -> None:
    columns = identity(table)
    for start in range(0, len(idents), 500):
        chunk = idents[start : start + 500]
        conn.execute(update(table).where(_identified(table, columns, chunk)).values(dict(values)))


def cascade_tables(cascade: Cascade) -> list[str]:
    """Tables whose rows a removal may delete or update (for plans and sizes)."""
    return [t.name for t in cascade.touched()]
