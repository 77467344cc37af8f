"""Counting one large table of a cascade in slices of its key, each slice its own transaction.

The circuit breaker counts, per table, the rows that go with the due roots. A table two
foreign keys reach is counted as ``EXISTS (root a) OR EXISTS (root b)``, which PostgreSQL
cannot join: it hashes the roots while they fit in ``work_mem`` and otherwise looks each row's
roots up by index. Looked up row by row, the count costs in proportion to the table's rows, so
slicing it by the table's own key costs nothing more (1M rows against 1M roots: 1.43 s in one
transaction, 1.55 s in ten, the longest 0.16 s) and bounds the read-only transaction that
holds back vacuum. Hashed, every slice would hash the roots again (ten slices of the same
table against 100k roots: 2.39 s instead of 0.45 s), so only a count PostgreSQL's own plan
shows looked up row by row is sliced; one that is not is made in one statement, as the
caller's ``whole`` form where it has one (a join per edge, which PostgreSQL runs with parallel
workers: :func:`~lethe.stores.sql.membership.joined_count`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, Select, Table, func, select
from sqlalchemy.engine import Connection

from lethe.stores.sql.dialects import SQLDialect

__all__ = ["SLICE_ROWS", "slices"]

#: Rows of a table one slice counts (about 0.16 s looked up row by row on 2 shared cores).
SLICE_ROWS = 100_000

#: A subplan run for every row of its node (a hashed one reads as ``hashed SubPlan 2``).
_PER_ROW = re.compile(r"(?<!hashed )SubPlan \d+")


def slices(
    conn: Connection,
    dialect: SQLDialect,
    table: Table,
    query: Select[Any],
    estimate: int | None,
    whole: Select[Any] | None = None,
) -> Iterator[Select[Any]]:
    """Counts of disjoint ranges of ``table``'s key that add up to ``query`` (a count over
    ``table``), when the table is larger than :data:`SLICE_ROWS` by the server's
    ``estimate`` and PostgreSQL would look its roots up row by row; otherwise the one count,
    ``whole`` (the same count in another form) if given."""
    unsliced = query if whole is None else whole
    key = _integer_key(table)
    if key is None or estimate is None or estimate <= SLICE_ROWS or dialect.name != "postgresql":
        yield unsliced
        return
    column = table.c[key]
    low: Any = None
    high: Any = None
    if _per_row(conn, query):
        low, high = conn.execute(select(func.min(column), func.max(column))).one()
        conn.rollback()
    if low is None:  # hashed (one pass is cheapest), or an empty table
        yield unsliced
        return
    count = -(-estimate // SLICE_ROWS)
    width = (high - low) // count + 1
    for start in range(low, high + 1, width):
        yield query.where(column >= start, column < start + width)


def _integer_key(table: Table) -> str | None:
    """The table's key column when it is a single integer (its values can be ranged)."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1 or not isinstance(columns[0].type, Integer):
        return None
    return columns[0].name


def _per_row(conn: Connection, query: Select[Any]) -> bool:
    """Whether PostgreSQL's plan for ``query`` runs a subplan for each row it filters."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    (document,) = conn.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params
    ).one()
    conn.rollback()
    return any(_PER_ROW.search(condition) for condition in _conditions(document[0]["Plan"]))


def _conditions(node: dict[str, Any]) -> Iterator[str]:
    for name, value in node.items():
        if isinstance(value, str) and (name.endswith("Filter") or name.endswith("Cond")):
            yield value
    for child in node.get("Plans", []):
        yield from _conditions(child)
