"""PostgreSQL range partitions dropped whole instead of deleted row by row.

A dataset whose table is partitioned by range (PostgreSQL ≥ 14) offers
:class:`~lethe.stores.base.PartitionDrops`. A leaf partition qualifies when every row in it is
selected by the phase (its due test *and* the dataset's ``where`` filters: a filter that could
exclude a row makes the partition wait until no row in it is excluded), no row in it is held,
and no foreign key references the table or any of its partitions (nor does the dataset cascade
to other tables): otherwise its rows take the row path.

Dropping one is:

1. mark the partition (a table comment naming its parent and bound: what the next run needs
   to finish or undo it) and ``DETACH PARTITION … CONCURRENTLY`` — two transactions of
   PostgreSQL's own, outside any transaction block; when a default partition forbids
   ``CONCURRENTLY``, the mark and a plain ``DETACH`` in one short transaction (detaching scans
   nothing);
2. in a transaction that only reads: ``LOCK … IN SHARE MODE`` (every writer out, readers in),
   check again that every row is selected and none held, read its row count, key range and
   key digest (:mod:`lethe.stores.sql.partition_digest`); before it ends, the transaction of
   step 3 takes the same SHARE lock, so that no write gets in between;
3. in a short transaction: ``LOCK … IN ACCESS EXCLUSIVE MODE``, read the holds again, let the
   executor record its intent, ``DROP TABLE``, commit.

A partition that stopped qualifying is attached again. Should a writer of the detached table
already be queued for it when step 3 asks for its lock (``NOWAIT`` refused: waiting would be
waiting for ourselves), steps 2 and 3 run as one transaction under ``ACCESS EXCLUSIVE``, after
that writer. A kill at any point before the drop commits leaves a detached, marked table (or,
during 1, a partition PostgreSQL left "detach pending"): the next run's
:meth:`PartitionedDataset.droppable` lists it and steps 2–3 finish it.
"""

from __future__ import annotations

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
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from lethe.model.conditions import Condition
from lethe.model.keys import ItemKey
from lethe.stores.base import Finding, PartitionFacts
from lethe.stores.sql.compile import column, compile_condition
from lethe.stores.sql.dataset import SQLDataset
from lethe.stores.sql.engine import translate_errors
from lethe.stores.sql.partition_digest import digest_keys

__all__ = ["MARK", "Layout", "PartitionedDataset", "partition_findings", "read_layout"]

#: How a partition being detached is marked (its table comment): the parent and bound follow.
MARK = "lethe: detaching from "
_MIN_SERVER = 140000
_LOCK_NOT_AVAILABLE = "55P03"
#: What the digesting transaction returns when a writer of the detached table is queued.
_CONTENDED = PartitionFacts("", "", 0)
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
        prefix = f"{MARK}{self.layout.parent} "
        rows = conn.execute(
            text(
                f"SELECT {_QUALIFIED}, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:p AS regclass) AND c.relkind = 'r' "
                "UNION ALL "
                f"SELECT {_QUALIFIED}, substr(obj_description(c.oid, 'pg_class'), "
                "length(:m) + 1), true FROM pg_class c "
                "WHERE c.relkind = 'r' AND NOT c.relispartition "
                "AND left(obj_description(c.oid, 'pg_class'), length(:m)) = :m ORDER BY 3, 2"
            ),
            {"p": self.layout.parent, "m": prefix},
        ).all()
        return [
            PartitionFacts(name, bound, 0, detached=bool(detached))
            for name, bound, detached in rows
            if bound != "DEFAULT"
        ]

    def _keys(self, part: Table) -> list[ColumnElement[Any]]:
        return [column(part, c.name) for c in self.key_columns]

    def _violations(
        self,
        part: Table,
        condition: Condition | None,
        exact: Sequence[str],
        prefixes: Sequence[str],
    ) -> ColumnElement[bool] | None:
        """Rows of ``part`` that forbid dropping it: not selected (unless ``condition`` is
        None), or held; None: no row can."""
        keys = self._keys(part)
        key = keys[0] if len(keys) == 1 else tuple_(*keys)
        bad: list[ColumnElement[bool]] = []
        if condition is not None:
            selected = compile_condition(condition, part, sqlite=False)
            bad.append(not_(func.coalesce(selected, false())))
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
        return or_(*bad) if bad else None

    def _qualifies(
        self,
        conn: Connection,
        part: Table,
        condition: Condition,
        exact: Sequence[str],
        prefixes: Sequence[str],
    ) -> bool:
        return not self._offending(conn, part, condition, exact, prefixes)

    def _held(
        self, conn: Connection, part: Table, exact: Sequence[str], prefixes: Sequence[str]
    ) -> bool:
        """Whether a row of ``part`` is held (no query when nothing could hold one)."""
        return self._offending(conn, part, None, exact, prefixes)

    def _offending(
        self,
        conn: Connection,
        part: Table,
        condition: Condition | None,
        exact: Sequence[str],
        prefixes: Sequence[str],
    ) -> bool:
        violations = self._violations(part, condition, exact, prefixes)
        if violations is None:
            return False
        # EXISTS stops at the first offending row: a current partition costs a row or two.
        offending = exists().where(violations)
        return bool(conn.execute(select(offending.select_from(part))).scalar_one())

    def droppable(
        self, condition: Condition, exact: Sequence[str], prefixes: Sequence[str]
    ) -> list[PartitionFacts]:
        """Partitions whose every row is selected and none held, with their row counts."""
        if self.layout.refusal is not None:
            return []
        with translate_errors(self.label), self.engine.connect() as conn:
            candidates = self._partitions(conn)
            if not candidates:
                return []
            # One statement for every partition: the row count of each that qualifies, NULL
            # for the others (EXISTS stops at the first offending row: a current partition
            # costs a row or two).
            checks = []
            for n, candidate in enumerate(candidates):
                part = self._table(candidate.name)
                violations = self._violations(part, condition, exact, prefixes)
                assert violations is not None  # a condition always gives one
                offending = exists(select(literal(1)).select_from(part).where(violations))
                rows = select(func.count()).select_from(part).scalar_subquery()
                checks.append(select(literal(n), case((offending, null()), else_=rows)))
            counts = conn.execute(union_all(*checks)).all()
        return [
            PartitionFacts(c.name, c.bound, rows, detached=c.detached)
            for c, (_, rows) in zip(candidates, sorted(counts), strict=True)
            if rows is not None
        ]

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

    def _facts(self, conn: Connection, partition: PartitionFacts) -> PartitionFacts:
        """Row count, key range and key digest of the partition, which ``conn``'s transaction
        keeps every writer out of: lethe's own key texts in key order (text columns in byte
        order, as ``COLLATE "C"`` sorts), built by the server where it can
        (:mod:`lethe.stores.sql.partition_digest`)."""
        quote = self.engine.dialect.identifier_preparer.quote
        columns = [(quote(c.name), c.type) for c in self.key_columns]
        digest = digest_keys(conn, partition.name, columns, partition.rows)
        return PartitionFacts(
            partition.name,
            partition.bound,
            digest.rows,
            digest.first,
            digest.last,
            digest.hexdigest(),
        )

    def _autocommit(self, *statements: str, transaction: bool = False) -> None:
        """Run ``statements`` each on its own (``DETACH … CONCURRENTLY`` must), or together
        in one ``transaction``."""
        with translate_errors(self.label), self.engine.connect() as conn:
            if not transaction:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                conn.exec_driver_sql(statement)
            if transaction:
                conn.commit()

    def _detach(self, partition: PartitionFacts) -> None:
        """Step 1: the partition marked and detached (or its detach finished)."""
        name, parent = partition.name, self.layout.parent
        note = f"{MARK}{parent} {partition.bound}".replace("'", "''")
        mark = f"COMMENT ON TABLE {name} IS '{note}'"
        detach = f"ALTER TABLE {parent} DETACH PARTITION {name}"
        if partition.detached:
            if self._pending(name):
                self._autocommit(f"{detach} FINALIZE")
        elif self.layout.concurrently:
            self._autocommit(mark, f"{detach} CONCURRENTLY")
        else:  # a default partition forbids CONCURRENTLY: one short transaction, no scan
            self._autocommit(mark, detach, transaction=True)

    def _attach_again(self, partition: PartitionFacts) -> None:
        """A detached partition that stopped qualifying: back in its table, untouched."""
        name, parent = partition.name, self.layout.parent
        with translate_errors(self.label), self.engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {parent} ATTACH PARTITION {name} {partition.bound}")
            conn.exec_driver_sql(f"COMMENT ON TABLE {name} IS NULL")

    def drop_partition(
        self,
        partition: PartitionFacts,
        condition: Condition,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
        record: Callable[[PartitionFacts], None],
    ) -> PartitionFacts | None:
        """Detach; check and digest it in a transaction that only reads; drop it in a short
        one (see the module docstring)."""
        self._detach(partition)
        part = self._table(partition.name)
        with (
            translate_errors(self.label),
            self.engine.connect() as reader,
            self.engine.connect() as writer,
        ):
            tx = writer.begin()
            facts = self._digested(reader, writer, part, partition, condition, holds)
            if facts is _CONTENDED:
                tx.rollback()
                facts = self._drop_checked(writer, part, partition, condition, holds, record)
            elif facts is not None:
                facts = self._drop_digested(writer, part, facts, holds, record)
                tx.commit()
            else:
                tx.rollback()
        if facts is None:
            self._attach_again(partition)
        return facts

    def _digested(
        self,
        reader: Connection,
        writer: Connection,
        part: Table,
        partition: PartitionFacts,
        condition: Condition,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
    ) -> PartitionFacts | None:
        """Step 2 (``reader``: reads only): the partition checked and digested under a SHARE
        lock, which keeps every writer out and lets readers in; ``writer``'s transaction then
        joins the lock before the reader lets it go, so that no write gets in between the
        digest and the drop. None: it no longer qualifies; :data:`_CONTENDED`: a writer of
        the detached table is queued for it (the writer's ``NOWAIT`` was refused: waiting would
        wait for ourselves)."""
        name = partition.name
        with reader.begin():
            reader.exec_driver_sql(f"LOCK TABLE {name} IN SHARE MODE")
            exact, prefixes = holds()
            if not self._qualifies(reader, part, condition, exact, prefixes):
                return None
            facts = self._facts(reader, partition)
            if not _try_lock(writer, name, "SHARE"):
                return _CONTENDED
        return facts

    def _drop_digested(
        self,
        writer: Connection,
        part: Table,
        facts: PartitionFacts,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
        record: Callable[[PartitionFacts], None],
    ) -> PartitionFacts | None:
        """Step 3, in ``writer``'s transaction (which holds the SHARE lock since before the
        digest): the holds read again, the intent recorded, the table dropped. None: a row of
        it was held meanwhile."""
        writer.exec_driver_sql(f"LOCK TABLE {facts.name} IN ACCESS EXCLUSIVE MODE")
        exact, prefixes = holds()
        if self._held(writer, part, exact, prefixes):
            return None
        record(facts)
        writer.exec_driver_sql(f"DROP TABLE {facts.name}")
        return facts

    def _drop_checked(
        self,
        conn: Connection,
        part: Table,
        partition: PartitionFacts,
        condition: Condition,
        holds: Callable[[], tuple[Sequence[str], Sequence[str]]],
        record: Callable[[PartitionFacts], None],
    ) -> PartitionFacts | None:
        """Check, digest, record and drop in one transaction holding the table's lock: the
        path when a writer of the detached table stood in the way of the short one."""
        with conn.begin():
            conn.exec_driver_sql(f"LOCK TABLE {partition.name} IN ACCESS EXCLUSIVE MODE")
            exact, prefixes = holds()
            if not self._qualifies(conn, part, condition, exact, prefixes):
                return None
            facts = self._facts(conn, partition)
            record(facts)
            conn.exec_driver_sql(f"DROP TABLE {partition.name}")
        return facts

    def _pending(self, name: str) -> bool:
        with translate_errors(self.label), self.engine.connect() as conn:
            row = _one(
                conn,
                "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = CAST(:n AS regclass)",
                n=name,
            )
        return bool(row and row[0])


def _try_lock(conn: Connection, name: str, mode: str) -> bool:
    """``LOCK … NOWAIT`` in a savepoint of ``conn``'s transaction: whether it was granted."""
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(f"LOCK TABLE {name} IN {mode} MODE NOWAIT")
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


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
