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
owner among the parent rows it references (``LEAST`` over one ``LEFT JOIN`` per edge).
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
    for table, owner, rows in conn.execute(chain.query, keyset.params(keys)):
        name = chain.names[table]
        total += rows
        if name == chain.root:
            result.roots_deleted += rows
            continue
        result.deleted[name] = result.deleted.get(name, 0) + rows
        if owner is not None:  # a child of a root the due guard kept: the batch is missed
            result.per_item[items[owner - 1]][name] = rows
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
    (root_rows,) = deleted[root.name]
    owned: dict[str, CTE] = {
        root.name: select(*root_rows.c, ordinals.c.n.label(_OWNER))
        .join_from(root_rows, ordinals, ordinals.c.v == root_rows.c[key])
        .cte("lethe_o0")
    }
    names = [root.name]
    counts: list[Any] = [
        select(
            literal_column("0", Integer),
            cast(null(), BigInteger),
            func.count(),
        ).select_from(root_rows)
    ]
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
            parent = owned[edge.parent.name]
            link = [parent.c[p] for p in edge.parent_columns]
            first = (
                select(*link, func.min(parent.c[_OWNER]).label(_OWNER))
                .group_by(*link)
                .subquery(f"lethe_m{number}_{e}")
            )
            on = and_(
                *(
                    rows.c[c] == first.c[p]
                    for c, p in zip(edge.columns, edge.parent_columns, strict=True)
                )
            )
            joined = joined.outerjoin(first, on)
            firsts.append(first.c[_OWNER])
        owner = firsts[0] if len(firsts) == 1 else func.least(*firsts)
        mine = select(*rows.c, owner.label(_OWNER)).select_from(joined).cte(f"lethe_o{number}")
        owned[table.name] = mine
        counts.append(
            select(literal_column(str(number), Integer), mine.c[_OWNER], func.count())
            .select_from(mine)
            .group_by(mine.c[_OWNER])
        )
    return Chain(union_all(*counts), tuple(names), root.name)
