"""PostgreSQL range partitions dropped whole instead of deleted row by row.

A dataset whose table is partitioned by range (PostgreSQL ≥ 14) offers
:class:`~lethe.stores.base.PartitionDrops`. A leaf partition qualifies when every row in it is
selected by the phase (its due test *and* the dataset's ``where`` filters: a filter that could
exclude a row makes the partition wait until no row in it is excluded), no row in it is held,
and no foreign key references the table or any of its partitions (nor does the dataset cascade
to other tables): otherwise its rows take the row path.

Dropping one is, with ``CONCURRENTLY`` (no default partition):

1. mark the partition (a table comment naming its parent and bound: what the next run needs
   to finish or undo it) and ``DETACH PARTITION … CONCURRENTLY`` — two transactions of
   PostgreSQL's own, outside any transaction block;
2. in one transaction: ``LOCK`` the detached table against every reader and writer, check
   again that every row is selected and none held, read its row count, key range and key
   digest, let the executor record its intent, ``DROP TABLE``, commit.

A partition that stopped qualifying between 1 and 2 is attached again. A kill between 1 and 2
leaves a detached, marked table (or, during 1, a partition PostgreSQL left "detach pending"):
the next run's :meth:`PartitionedDataset.droppable` lists it and step 2 finishes it. Without
``CONCURRENTLY`` (a default partition exists) the detach is part of step 2's transaction,
which then holds the parent's lock while it scans the partition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.engine import Connection

from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import Finding, PartitionFacts
from lethe.stores.sql.compile import column, compile_condition
from lethe.stores.sql.dataset import SQLDataset
from lethe.stores.sql.engine import translate_errors

__all__ = ["MARK", "Layout", "PartitionedDataset", "partition_findings", "read_layout"]

#: How a partition being detached is marked (its table comment): the parent and bound follow.
MARK = "lethe: detaching from "
_MIN_SERVER = 140000
#: A table's name as the audit records it and statements use it: always schema-qualified.
_QUALIFIED = (
    "format('%I.%I', (SELECT nspname FROM pg_namespace WHERE oid = c.relnamespace), c.relname)"
)


@dataclass(frozen=True)
class Layout:
    """How a partitioned table is laid out, and why its partitions may not be dropped, if so."""

    parent: str  # the table, schema-qualified and quoted
    column: str | None = None  # the range partition key's column
    concurrently: bool = False
    refusal: str | None = None


def _one(conn: Connection, sql: str, **params: Any) -> Any:
    return conn.execute(text(sql), params).first()


def read_layout(conn: Connection, handle: SQLDataset) -> Layout | None:
    """The layout of ``handle``'s table, or None when it is not partitioned (or not on
    PostgreSQL)."""
    if handle.engine.dialect.name != "postgresql":
        return None
    oid = _one(
        conn,
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = :t AND n.nspname = coalesce(:s, current_schema()) "
        "AND c.relkind = 'p'",
        t=handle.root.name,
        s=handle.root.schema,
    )
    if oid is None:
        return None
    parent = _one(conn, f"SELECT {_QUALIFIED} FROM pg_class c WHERE c.oid = :o", o=oid[0])[0]
    shape = _one(
        conn,
        "SELECT p.partstrat, p.partnatts, a.attname, p.partdefid "
        "FROM pg_partitioned_table p LEFT JOIN pg_attribute a "
        "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = :o",
        o=oid[0],
    )
    version = int(_one(conn, "SHOW server_version_num")[0])
    refusal = _refusal(conn, handle, oid[0], shape, version)
    return Layout(
        parent,
        column=shape[2],
        concurrently=refusal is None and shape[3] == 0,
        refusal=refusal,
    )


def _refusal(
    conn: Connection, handle: SQLDataset, oid: int, shape: Any, version: int
) -> str | None:
    """Why no partition of the table may be dropped whole (each a reason for the row path)."""
    if handle.config.partitions == "rows":
        return 'the dataset says partitions = "rows"'
    if version < _MIN_SERVER:
        return "PostgreSQL 14 or later is needed to detach partitions safely"
    if shape[0] != "r" or shape[1] != 1 or shape[2] is None:
        return "it is not partitioned by range on one column"
    referencing = _one(
        conn,
        "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND (confrelid = :o OR confrelid IN (SELECT inhrelid FROM pg_inherits "
        "WHERE inhparent = :o)) LIMIT 1",
        o=oid,
    )
    owner = _one(conn, "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = :o", o=oid)
    if not owner[0]:
        return "lethe's role does not own it (detaching and dropping a partition need the owner)"
    if referencing is not None:
        return f"foreign key {referencing[0]} of {referencing[1]} references it"
    if handle.cascade.edges or handle.cascade.members:
        return "its cascade reaches other tables"
    return None


class PartitionedDataset(SQLDataset):
    """A SQL dataset on a PostgreSQL table partitioned by range (see the module docstring)."""

    layout: Layout
    _tables: MetaData

    def partitioned(self, layout: Layout) -> PartitionedDataset:
        """Record ``layout``, read when the dataset was bound."""
        self.layout = layout
        self._tables = MetaData()
        return self

    # -- reading -------------------------------------------------------------------------

    def cascade_counts_where(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int | None
    ) -> dict[str, int]:
        """No cascade, nothing to count: the breaker's estimate need not scan the parent's
        partitions a second time to learn that."""
        if not self.cascade.edges:
            return {}
        return super().cascade_counts_where(condition, exclude=exclude, limit=limit)

    def _table(self, qualified: str) -> Table:
        """The partition ``qualified`` (``schema.name``) with the parent's columns; one object
        per partition, so that its statements compile once."""
        schema, _, name = qualified.rpartition(".")
        key = (schema.strip('"') or None, name.strip('"'))
        metadata = self._tables
        found = metadata.tables.get(f"{key[0]}.{key[1]}" if key[0] else key[1])
        if found is not None:
            return found
        columns = [Column(c.name, c.type) for c in self.root.columns]
        return Table(key[1], metadata, *columns, schema=key[0])

    def _partitions(self, conn: Connection) -> list[PartitionFacts]:
        """Leaf range partitions (the default one never qualifies), then the tables an
        interrupted run left detached or detaching."""
        rows = conn.execute(
            text(
                f"SELECT {_QUALIFIED}, pg_get_expr(c.relpartbound, c.oid), "
                "i.inhdetachpending, obj_description(c.oid, 'pg_class') "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:p AS regclass) AND c.relkind = 'r' ORDER BY 2"
            ),
            {"p": self.layout.parent},
        ).all()
        prefix = f"{MARK}{self.layout.parent} "
        found = [
            PartitionFacts(name, bound, 0, detached=bool(pending))
            for name, bound, pending, _ in rows
            if bound != "DEFAULT"
        ]
        left = conn.execute(
            text(
                f"SELECT {_QUALIFIED}, obj_description(c.oid, 'pg_class') "
                "FROM pg_class c WHERE c.relkind = 'r' AND NOT c.relispartition "
                "AND left(obj_description(c.oid, 'pg_class'), length(:m)) = :m"
            ),
            {"m": prefix},
        ).all()
        found += [
            PartitionFacts(name, note[len(prefix) :], 0, detached=True) for name, note in left
        ]
        return found

    def _keys(self, part: Table) -> list[ColumnElement[Any]]:
        return [column(part, c.name) for c in self.key_columns]

    def _violations(
        self,
        part: Table,
        condition: Condition,
        exact: Sequence[str],
        prefixes: Sequence[str],
    ) -> ColumnElement[bool]:
        """Rows of ``part`` that forbid dropping it: not selected, or held."""
        keys = self._keys(part)
        key = keys[0] if len(keys) == 1 else tuple_(*keys)
        bad: list[ColumnElement[bool]] = [
            not_(func.coalesce(compile_condition(condition, part, sqlite=False), false()))
        ]
        if exact:
            bad.append(key.in_([self.parse_key(text) for text in exact]))
        if prefixes:
            # A prefix holds keys by their text: the server's text of a single integer, text
            # or uuid key is lethe's; of any other key it is not, so such a hold keeps them all.
            simple = len(keys) == 1 and keys[0].type.python_type in (int, str, UUID)
            as_text = cast(keys[0], Text)
            bad += [as_text.startswith(p, autoescape=True) if simple else true() for p in prefixes]
        spec, hold = self.config.hold_table, self.hold_table
        if spec is not None and hold is not None:
            clause = and_(
                *(column(hold, n) == k for n, k in zip(spec.key_columns, keys, strict=True))
            )
            if spec.released_column:
                clause = clause & column(hold, spec.released_column).is_(None)
            bad.append(select(literal(1)).where(clause).exists())
        return or_(*bad)

    def _qualifies(
        self,
        conn: Connection,
        part: Table,
        condition: Condition,
        exact: Sequence[str],
        prefixes: Sequence[str],
    ) -> bool:
        # EXISTS stops at the first offending row: a current partition costs a row or two.
        offending = exists().where(self._violations(part, condition, exact, prefixes))
        return not conn.execute(select(offending.select_from(part))).scalar_one()

    def droppable(
        self, condition: Condition, exact: Sequence[str], prefixes: Sequence[str]
    ) -> list[PartitionFacts]:
        """Partitions whose every row is selected and none held, with their row counts."""
        if self.layout.refusal is not None:
            return []
        found: list[PartitionFacts] = []
        with translate_errors(self.label), self.engine.connect() as conn:
            for candidate in self._partitions(conn):
                part = self._table(candidate.name)
                if self._qualifies(conn, part, condition, exact, prefixes):
                    rows = conn.execute(select(func.count()).select_from(part)).scalar_one()
                    found.append(
                        PartitionFacts(
                            candidate.name, candidate.bound, rows, detached=candidate.detached
                        )
                    )
        return found

    def partitions_gone(self, names: Sequence[str]) -> set[str]:
        """Which of ``names`` are no longer tables."""
        with translate_errors(self.label), self.engine.connect() as conn:
            return {n for n in names if _one(conn, "SELECT to_regclass(:n)", n=n)[0] is None}

    def partition_of(self, key: ItemKey) -> str | None:
        """The partition the row ``key`` is in (None: no such row)."""
        values = key if isinstance(key, tuple) else (key,)
        match = and_(*(c == v for c, v in zip(self.key_columns, values, strict=True)))
        oid: Select[Any] = select(literal_column("tableoid")).select_from(self.root).where(match)
        with translate_errors(self.label), self.engine.connect() as conn:
            row = conn.execute(oid).first()
            if row is None:
                return None
            name = _one(conn, f"SELECT {_QUALIFIED} FROM pg_class c WHERE c.oid = :o", o=row[0])
        return None if name is None else str(name[0])

    # -- dropping ------------------------------------------------------------------------

    def _facts(self, conn: Connection, part: Table, partition: PartitionFacts) -> PartitionFacts:
        """Row count, key range and key digest of the locked partition: lethe's own key texts,
        read out in key order (text columns in byte order, as ``COLLATE "C"`` sorts)."""
        order = [k.collate("C") if k.type.python_type is str else k for k in self._keys(part)]
        query = select(*self._keys(part)).select_from(part).order_by(*order)
        digest = hashlib.sha256()
        rows, first, last = 0, None, None
        # Streamed: the keys of a large partition never sit in memory at once.
        result = conn.execute(query.execution_options(yield_per=10_000))
        width = len(self.key_columns)
        for chunk in result.partitions():
            texts = [key_text(row[0] if width == 1 else tuple(row)) for row in chunk]
            digest.update((("\n" if rows else "") + "\n".join(texts)).encode())
            first = texts[0] if first is None else first
            last, rows = texts[-1], rows + len(texts)
        return PartitionFacts(
            partition.name, partition.bound, rows, first, last, digest.hexdigest()
        )

    def _autocommit(self, *statements: str) -> None:
        with translate_errors(self.label), self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                conn.exec_driver_sql(statement)

    def drop_partition(
        self,
        partition: PartitionFacts,
        condition: Condition,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
        record: Callable[[PartitionFacts], None],
    ) -> PartitionFacts | None:
        """Detach, check again under lock, record, drop (see the module docstring)."""
        name, parent = partition.name, self.layout.parent
        attached = not partition.detached
        if partition.detached and self._pending(name):
            self._autocommit(f"ALTER TABLE {parent} DETACH PARTITION {name} FINALIZE")
        elif attached and self.layout.concurrently:
            note = f"{MARK}{parent} {partition.bound}".replace("'", "''")
            self._autocommit(
                f"COMMENT ON TABLE {name} IS '{note}'",
                f"ALTER TABLE {parent} DETACH PARTITION {name} CONCURRENTLY",
            )
            attached = False
        part = self._table(name)
        with translate_errors(self.label), self.engine.connect() as conn, conn.begin() as tx:
            if attached:  # no CONCURRENTLY: detached in this transaction
                conn.exec_driver_sql(f"ALTER TABLE {parent} DETACH PARTITION {name}")
            conn.exec_driver_sql(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
            exact, prefixes = holds()
            if not self._qualifies(conn, part, condition, exact, prefixes):
                if attached:
                    tx.rollback()
                else:  # detached by us or an earlier run: back where it was
                    conn.exec_driver_sql(
                        f"ALTER TABLE {parent} ATTACH PARTITION {name} {partition.bound}"
                    )
                    conn.exec_driver_sql(f"COMMENT ON TABLE {name} IS NULL")
                return None
            facts = self._facts(conn, part, partition)
            record(facts)
            conn.exec_driver_sql(f"DROP TABLE {name}")
        return facts

    def _pending(self, name: str) -> bool:
        with translate_errors(self.label), self.engine.connect() as conn:
            row = _one(
                conn,
                "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = CAST(:n AS regclass)",
                n=name,
            )
        return bool(row and row[0])


def partition_findings(handle: SQLDataset) -> list[Finding]:
    """What ``lethe check`` says of a partitioned dataset: whether its partitions qualify."""
    if not isinstance(handle, PartitionedDataset):
        return []
    layout = handle.layout
    if layout.refusal is not None:
        return [
            Finding(
                "ok",
                handle.name,
                f"{layout.parent} is partitioned, but its rows go row by row: {layout.refusal}",
            )
        ]
    how = (
        "concurrently" if layout.concurrently else "in one transaction (a default partition exists)"
    )
    note = (
        ""
        if layout.column in {handle.config.due_column, handle.config.age_column}
        else f"; it is partitioned on {layout.column}, not the age column, so a partition "
        "qualifies only once every row in it happens to be due"
    )
    return [
        Finding(
            "ok",
            handle.name,
            f"{layout.parent} is partitioned by range on {layout.column}: a partition whose rows "
            f"are all due and unheld is detached {how} and dropped whole{note}",
        )
    ]
