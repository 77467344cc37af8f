"""A batch's table-by-table removal as one statement: data-modifying CTEs (PostgreSQL).

The deletes of :mod:`.setwise` — one per edge, the root's last — become the ``WITH`` clauses of
a single statement, so a batch costs one round trip instead of one per edge, its keys are bound
once, and the server, not Python, says which item each deleted row went with: the statement
returns ``(table, item, rows)`` per table and item, nothing per row.

Why one statement deletes the same rows as the sequence: every clause reads the snapshot the
statement started with, so a table's rows are matched through its parents' rows as they were
before the batch, which is what the sequence (children first) saw too; a row two clauses
match is deleted by one of them only (the other finds it already deleted by the same command)
and returned once. The foreign keys' own checks and ``ON DELETE`` actions are triggers that fire
when the whole statement ends, when every clause has run: a cascade finds nothing left to
delete, and a ``RESTRICT`` or ``NO ACTION`` key whose children the policy cascades finds them
gone, as it did after the sequence's child deletes.

Counts are those of :func:`.setwise.remove`: each row for the first item in batch order
whose deletion set holds it, computed parents first — a row's first owner is the least first
owner among the parent rows it references (``LEAST`` over one ``LEFT JOIN`` per edge). An edge
that references the batch's keys themselves joins the keys' positions (``unnest(keys) WITH
ORDINALITY``, computed once), not the root's deleted rows: the two differ only for an item
whose own row the due guard kept, and then the batch is rolled back (``SQLBatch.delete``).
Each table's counts come back as one row of two arrays (owners, rows), not one row per item:
a batch of 1,000 items over five tables is six rows, not ~5,000 for the client to build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from lethe.errors import LiveCheckError
from lethe.stores.sql.cascade import Cascade
from lethe.stores.sql.closure import MAX_ROWS
from lethe.stores.sql.keysets import KeySet
from lethe.stores.sql.removal import Removal

__all__ = ["Chain", "build", "remove"]

#: The owner column every per-table clause carries (prefixed: a table may have an ``owner``).
_OWNER = "lethe_owner"


@dataclass(frozen=True)
class Chain:
    """A batch's removal as one statement, built once per dataset and condition (building it
    costs more than running it); the keys are its one parameter."""

    query: CompoundSelect[Any]
    #: The table each number in the result's first column stands for (the root's is 0).
    names: tuple[str, ...]
    root: str


def remove(
    conn: Connection, chain: Chain, keyset: KeySet, items: Sequence[str], keys: Sequence[Any]
) -> Removal:
    """Delete ``keys`` (whose key texts are ``items``, in batch order) and their cascades
    with ``chain``."""
    result = Removal(per_item={item: {} for item in items})
    total = 0
    for table, owners, counts in conn.execute(chain.query, keyset.params(keys)):
        if counts is None:  # no row of that table went
            continue
        name = chain.names[table]
        rows = sum(counts)
        total += rows
        if name == chain.root:
            result.roots_deleted += rows
            continue
        result.deleted[name] = result.deleted.get(name, 0) + rows
        for owner, n in zip(owners, counts, strict=True):
            if owner is not None:  # a child of a row the due guard kept: the batch is missed
                result.per_item[items[owner - 1]][name] = n
    if total > MAX_ROWS:
        raise LiveCheckError(
            f"one batch of {chain.root} would reach more than {MAX_ROWS} rows "
            "through its cascade; lower batch_size"
        )
    return result


def build(
    cascade: Cascade,
    keyset: KeySet,
    statements: Sequence[tuple[Any, ColumnElement[bool]]],
    columns: Mapping[str, Sequence[str]],
) -> Chain:
    """``statements`` (``(table, where)``, children first, the root last, as
    :mod:`.setwise` makes them) as one statement; ``columns`` are what each table's delete
    returns (its ends of every edge)."""
    deleted: dict[str, list[CTE]] = {}
    for n, (table, where) in enumerate(statements):
        returned = (table.c[c] for c in columns[table.name])
        clause = delete(table).where(where).returning(*returned).cte(f"lethe_d{n}")
        deleted.setdefault(table.name, []).append(clause)
    root = cascade.root
    key = cascade.key[0]
    ordinals = (
        func.unnest(bindparam(keyset.name, type_=ARRAY(keyset.key_type)))
        .table_valued("v", with_ordinality="n")
        .render_derived(name="lethe_keys")
    )
    # Each key's position in the batch (its first, should a key repeat).
    positions = (
        select(ordinals.c.v, func.min(ordinals.c.n).label(_OWNER))
        .group_by(ordinals.c.v)
        .cte("lethe_k")
    )
    (root_rows,) = deleted[root.name]
    owned: dict[str, Any] = {}  # per table: its deleted rows with their first owner

    def owned_root() -> Any:
        # Only an edge from a column other than the key needs the root's rows themselves.
        if root.name not in owned:
            owned[root.name] = (
                select(*root_rows.c, positions.c[_OWNER])
                .join_from(root_rows, positions, positions.c.v == root_rows.c[key])
                .cte("lethe_o0")
            )
        return owned[root.name]

    names = [root.name]
    roots = select(cast(null(), BigInteger).label(_OWNER), func.count().label("rows"))
    counts: list[Any] = [_counted(0, roots.select_from(root_rows))]
    for table in reversed(cascade.members):  # parents first
        number = len(names)
        names.append(table.name)
        parts = deleted[table.name]
        rows: Any = (
            parts[0]
            if len(parts) == 1
            else union_all(*(select(*p.c) for p in parts)).subquery(f"lethe_u{number}")
        )
        joined: Any = rows
        firsts: list[ColumnElement[Any]] = []
        for e, edge in enumerate(e for e in cascade.edges if e.child.name == table.name):
            if edge.parent.name == root.name and tuple(edge.parent_columns) == (key,):
                first: Any = positions.alias(f"lethe_m{number}_{e}")
                link = [first.c.v]
            else:
                parent = owned_root() if edge.parent.name == root.name else owned[edge.parent.name]
                by = [parent.c[p] for p in edge.parent_columns]
                first = (
                    select(*by, func.min(parent.c[_OWNER]).label(_OWNER))
                    .group_by(*by)
                    .subquery(f"lethe_m{number}_{e}")
                )
                link = [first.c[p] for p in edge.parent_columns]
            on = and_(*(rows.c[c] == p for c, p in zip(edge.columns, link, strict=True)))
            joined = joined.outerjoin(first, on)
            firsts.append(first.c[_OWNER])
        owner = firsts[0] if len(firsts) == 1 else func.least(*firsts)
        mine = select(*rows.c, owner.label(_OWNER)).select_from(joined).cte(f"lethe_o{number}")
        owned[table.name] = mine
        per_owner = select(mine.c[_OWNER], func.count().label("rows")).group_by(mine.c[_OWNER])
        counts.append(_counted(number, per_owner))
    return Chain(union_all(*counts), tuple(names), root.name)


def _counted(number: int, per_owner: Any) -> Any:
    """``(number, owners[], rows[])``: one table's counts as one row of two arrays (both NULL
    when no row of it went)."""
    grouped = per_owner.subquery()
    return select(
        literal_column(str(number), Integer),
        func.array_agg(grouped.c[_OWNER]),
        func.array_agg(grouped.c.rows),
    )
