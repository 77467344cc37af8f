"""Counting a cascade in the database, without reading its rows: "which rows of each table
would go with these roots" as one SQL condition per table.

Used where a run's size must be judged before any change and without holding keys (the
circuit breaker's estimate). Tables are visited parents first; a self-referencing table's
rows are closed with ``WITH RECURSIVE`` (SQLite, PostgreSQL, MariaDB ≥ 10.2), so a tree of
any depth is one statement. Blocking edges are not judged here: the count is of every row the
cascade can reach, an upper bound of what a run deletes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, String, Table, cast, false, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement as _Column

from lethe.stores.sql.cascade import Cascade, Edge, identity
from lethe.stores.sql.keysets import Match

__all__ = ["membership"]


def _refers(
    table: Table, columns: tuple[str, ...], inner: Select[tuple[object, ...]]
) -> ColumnElement[bool]:
    cols = [table.c[c] for c in columns]
    return cols[0].in_(inner) if len(cols) == 1 else tuple_(*cols).in_(inner)


def _key(table: Table, names: tuple[str, ...]) -> ColumnElement[Any]:
    """The key column, or the tuple of a composite key's columns."""
    cols = [table.c[c] for c in names]
    return cols[0] if len(cols) == 1 else tuple_(*cols)


def _like(value: _Column[Any], column: _Column[Any]) -> _Column[Any]:
    """``value`` as ``column``'s type where a text column references a number (a generic
    relation's ``object_pk``), so the comparison is valid on every database."""
    if isinstance(column.type, String) and not isinstance(value.type, String):
        return cast(value, column.type)
    return value


def membership(cascade: Cascade, roots: Match) -> dict[str, ColumnElement[bool]] | None:
    """Per table (the root included): the condition "this row goes with a matched root".

    None when cascade edges form a cycle between tables (only rows can order those).
    """
    root = cascade.root
    edges = cascade.cascading()
    order = [root.name, *reversed(cascade.tables)]
    if any(
        order.index(e.parent.name) > order.index(e.child.name)
        for e in edges
        if e.child.name != e.parent.name
    ):
        return None
    clauses: dict[str, ColumnElement[bool]] = {}
    for name in order:
        table = cascade.member(name)
        seeds: list[ColumnElement[bool]] = (
            [roots(_key(root, cascade.key))] if name == root.name else []
        )
        for edge in edges:
            if edge.child.name == name and edge.parent.name != name:
                parent = edge.parent
                inner = select(
                    *(
                        _like(parent.c[p], table.c[c])
                        for c, p in zip(edge.columns, edge.parent_columns, strict=True)
                    )
                ).where(clauses[parent.name])
                refers = _refers(table, edge.columns, inner)
                for column, value in edge.when:
                    refers = refers & (table.c[column] == value)
                seeds.append(refers)
        seed = or_(*seeds) if seeds else false()
        loops = [e for e in edges if e.child.name == name and e.parent.name == name]
        clauses[name] = _closed(table, seed, loops) if loops else seed
    return clauses


def _closed(table: Table, seed: ColumnElement[bool], loops: list[Edge]) -> ColumnElement[bool]:
    """Rows matching ``seed`` and, recursively, rows referencing them through ``loops``."""
    ident = identity(table)
    wanted = list(dict.fromkeys([*ident, *(c for e in loops for c in e.parent_columns)]))
    base = select(*(table.c[c] for c in wanted)).where(seed)
    tree = base.cte("tree", recursive=True)
    child = table.alias("child")
    steps = []
    for edge in loops:
        joined = [
            child.c[c] == tree.c[p] for c, p in zip(edge.columns, edge.parent_columns, strict=True)
        ]
        steps.append(select(*(child.c[c] for c in wanted)).where(*joined))
    tree = tree.union(*steps)
    members: list[_Column[object]] = [tree.c[c] for c in ident]
    inner = select(*members)
    cols = [table.c[c] for c in ident]
    return cols[0].in_(inner) if len(cols) == 1 else tuple_(*cols).in_(inner)
