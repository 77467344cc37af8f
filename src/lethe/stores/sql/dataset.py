"""A SQL dataset: reads for planning and short locking batches for acting.

Every statement selects by primary key, never by ``ctid`` or row position: keys are stable
across transactions and unique across partitions.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Engine,
    MetaData,
    Select,
    Table,
    delete,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from lethe.config.datasets import DatasetConfig
from lethe.errors import ConfigError, LiveCheckError, StoreError
from lethe.model.conditions import Condition, Unreadable
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import DeleteOutcome, Item
from lethe.stores.sql import sqlite_dates
from lethe.stores.sql.cascade import Cascade, Link, Node
from lethe.stores.sql.compile import (
    column,
    compile_condition,
    to_column_value,
    unreadable_condition,
)
from lethe.stores.sql.dialects import dialect_of
from lethe.stores.sql.engine import translate_errors
from lethe.stores.sql.keysets import KeySet, Match

__all__ = ["SQLBatch", "SQLDataset"]

_ROOT_KEYS = "root_keys"


class SQLDataset:
    """A dataset bound to a reflected table, its cascade and its hold table."""

    def __init__(
        self,
        name: str,
        config: DatasetConfig,
        engine: Engine,
        table: Table,
        cascade: Cascade,
        hold_table: Table | None,
        label: str,
    ) -> None:
        self.name = name
        self.config = config
        self.engine = engine
        self.root = table
        self.cascade = cascade
        self.key = column(table, str(config.key))
        self.hold_table = hold_table
        self.label = label
        self._related: dict[str, Table] = {}
        self.sqlite = engine.dialect.name == "sqlite"
        self.dialect = dialect_of(engine)
        self.locks_rows = self.dialect.row_locks
        self.keyset = KeySet(_ROOT_KEYS, self.key, engine.dialect)

    @property
    def table(self) -> str:
        return self.root.name

    @property
    def locks(self) -> bool:
        return True  # row locks on servers, the database's write lock on SQLite

    @property
    def skips_locked(self) -> bool:
        return self.dialect.skip_locked  # only SKIP LOCKED leaves rows behind the cursor

    # -- building blocks -------------------------------------------------------------------

    def where(self, condition: Condition) -> ColumnElement[bool]:
        """``condition`` compiled against the dataset's table."""
        return compile_condition(condition, self.root, sqlite=self.sqlite)

    def held(self) -> ColumnElement[bool]:
        """True for rows the application's own hold table holds."""
        spec = self.config.holds
        if spec is None or self.hold_table is None:
            return false()
        hold = self.hold_table
        clause = column(hold, spec.column) == self.key
        if spec.released_column:
            clause = clause & column(hold, spec.released_column).is_(None)
        # SELECT 1, not SELECT *: a narrow role has column grants only.
        return select(literal(1)).where(clause).exists()

    def _items(self, condition: Condition) -> Select[Any]:
        """Key, held and (on SQLite) unreadable of the rows selected, and of the rows whose
        verdict an unreadable date leaves unknown (never acted on; see ``sqlite_dates``)."""
        selected = self.where(condition)
        unreadable = unreadable_condition(condition, self.root) if self.sqlite else None
        if unreadable is None:
            return select(self.key, self.held().label("held")).where(selected)
        flagged = select(self.key, self.held().label("held"), unreadable.label("unreadable"))
        return flagged.where(or_(selected, unreadable))

    def membership(self, node_name: str, roots: Match) -> ColumnElement[bool]:
        """Rows of ``node_name`` that reach a root key matched by ``roots``."""
        if node_name == self.root.name:
            return roots(self.key)
        node = next(n for n in self.cascade.nodes if n.name == node_name)
        clauses = [self._link_clause(node, link, roots) for link in node.links]
        return clauses[0] if len(clauses) == 1 else or_(*clauses)

    def _link_clause(self, node: Node, link: Link, roots: Match) -> ColumnElement[bool]:
        cols = [node.table.c[c] for c in link.columns]
        if link.parent == self.root.name and link.parent_columns == (self.key.name,):
            return roots(cols[0])
        parent = self.root if link.parent == self.root.name else self._node(link.parent).table
        inner = select(*(parent.c[c] for c in link.parent_columns)).where(
            self.membership(link.parent, roots)
        )
        if len(cols) == 1:
            return cols[0].in_(inner)
        return tuple_(*cols).in_(inner)

    def _node(self, name: str) -> Node:
        return next(n for n in self.cascade.nodes if n.name == name)

    # -- reads ------------------------------------------------------------------------------

    def select(
        self,
        condition: Condition,
        *,
        after: ItemKey | None = None,
        limit: int,
        exclude: Sequence[ItemKey] = (),
    ) -> list[Item]:
        query = self._items(condition).order_by(self.key).limit(limit)
        if after is not None:
            query = query.where(self.key > after)
        if exclude:
            query = query.where(self.key.not_in(list(exclude)))
        with translate_errors(self.label), self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query)]

    def iter_select(self, condition: Condition, *, page: int = 5000) -> Iterator[Item]:
        after: ItemKey | None = None
        while True:
            items = self.select(condition, after=after, limit=page)
            yield from items
            if len(items) < page:
                return
            after = items[-1].key

    def _eligible(self, condition: Condition, exclude: Sequence[ItemKey]) -> ColumnElement[bool]:
        clause = self.where(condition) & ~self.held()
        if exclude:
            clause = clause & self.key.not_in(list(exclude))
        return clause

    def count(self, condition: Condition, *, exclude: Sequence[ItemKey] = ()) -> tuple[int, int]:
        total = select(func.count()).select_from(self.root).where(self.where(condition))
        eligible = (
            select(func.count()).select_from(self.root).where(self._eligible(condition, exclude))
        )
        with translate_errors(self.label), self.engine.connect() as conn:
            n_total = int(conn.execute(total).scalar_one())
            n_eligible = int(conn.execute(eligible).scalar_one())
        return n_eligible, n_total - n_eligible

    def cascade_counts(self, keys: Sequence[ItemKey]) -> dict[str, int]:
        counts = dict.fromkeys(self.cascade.tables, 0)
        if not keys or not counts:
            return counts
        queries = [
            (
                n.name,
                select(func.count())
                .select_from(n.table)
                .where(self.membership(n.name, self.keyset.match)),
            )
            for n in self.cascade.nodes
        ]
        with translate_errors(self.label), self.engine.connect() as conn:
            for start in range(0, len(keys), 1000):
                params = self.keyset.params(keys[start : start + 1000])
                for name, query in queries:
                    counts[name] += int(conn.execute(query, params).scalar_one())
        return counts

    def cascade_counts_where(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int | None
    ) -> dict[str, int]:
        roots: Select[Any] = (
            select(self.key).where(self._eligible(condition, exclude)).order_by(self.key)
        )
        if limit is not None:
            roots = roots.limit(limit)
        # SQLite and PostgreSQL accept LIMIT inside IN (…) only through a derived table.
        root_keys = select(roots.subquery().c[0])
        counts: dict[str, int] = {}
        with translate_errors(self.label), self.engine.connect() as conn:
            for node in self.cascade.nodes:
                query = (
                    select(func.count())
                    .select_from(node.table)
                    .where(self.membership(node.name, lambda col: col.in_(root_keys)))
                )
                counts[node.name] = int(conn.execute(query).scalar_one())
        return counts

    def table_sizes(self) -> dict[str, int]:
        """Row counts; the server's estimate where it keeps a good one (PostgreSQL), since
        exact counts scan every table."""
        tables = [self.root, *(n.table for n in self.cascade.nodes)]
        with translate_errors(self.label), self.engine.connect() as conn:
            sizes = self.dialect.size_estimates(conn, tables)
            for t in tables:
                if t.name not in sizes:
                    sizes[t.name] = int(
                        conn.execute(select(func.count()).select_from(t)).scalar_one()
                    )
        return sizes

    def fetch(self, keys: Sequence[ItemKey], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Current values by key text; on SQLite, date columns as aware UTC instants, or
        :class:`Unreadable` for what is no readable date (never handed to a date parser)."""
        dates = self._date_columns(columns) if self.sqlite else set()
        cols: list[ColumnElement[Any]] = []
        for name in columns:
            col = column(self.root, name)
            if name in dates:
                cols += [sqlite_dates.utc_text(col), sqlite_dates.unreadable_text(col)]
            else:
                cols.append(col)
        found: dict[str, dict[str, Any]] = {}
        query = select(self.key, *cols).where(self.keyset.match(self.key))
        with translate_errors(self.label), self.engine.connect() as conn:
            for start in range(0, len(keys), 1000):
                params = self.keyset.params(keys[start : start + 1000])
                for row in conn.execute(query, params):
                    values = iter(row[1:])
                    found[key_text(row[0])] = {
                        name: _date(next(values), next(values)) if name in dates else next(values)
                        for name in columns
                    }
        return found

    def _date_columns(self, columns: Sequence[str]) -> set[str]:
        """Which of ``columns`` hold dates: typed so, or named by the dataset's due rule."""
        config = self.config
        named = {config.due_column, config.age_column}
        named |= {f.column for f in config.where if f.older_than is not None}
        return {
            name
            for name in columns
            if name in named or isinstance(column(self.root, name).type, Date | DateTime)
        }

    def _related_table(self, table: str) -> Table:
        if table not in self._related:
            with translate_errors(self.label):
                self._related[table] = Table(
                    table, MetaData(), schema=self.config.db_schema, autoload_with=self.engine
                )
        return self._related[table]

    def check_related(self, table: str, columns: set[str]) -> None:
        try:
            related = self._related_table(table)
        except StoreError:
            if not inspect(self.engine).has_table(table, schema=self.config.db_schema):
                raise LiveCheckError(f"table {table!r} does not exist") from None
            raise
        for name in sorted(columns):
            if name not in related.c:
                raise LiveCheckError(f"table {table!r} has no column {name!r}")

    def lookup_related(
        self, keys: Sequence[ItemKey], column: str, table: str, key: str, value: str
    ) -> dict[str, Any]:
        related = self._related_table(table)
        own = self.root.c[column]  # checked when the policy was bound (Action.reads)
        query = select(self.key, related.c[value]).join_from(
            self.root, related, related.c[key] == own
        )
        found: dict[str, Any] = {}
        with translate_errors(self.label), self.engine.connect() as conn:
            for start in range(0, len(keys), 1000):
                chunk = list(keys[start : start + 1000])
                for row in conn.execute(query.where(self.key.in_(chunk))):
                    found[key_text(row[0])] = row[1]
        return found

    def require_columns(self, columns: set[str]) -> None:
        for name in sorted(columns):
            column(self.root, name)

    def parse_key(self, text: str) -> ItemKey:
        try:
            python_type = self.key.type.python_type
        except NotImplementedError:
            return text
        try:
            if python_type is int:
                return int(text)
            if python_type is uuid.UUID:
                return uuid.UUID(text)
        except ValueError:
            raise ConfigError(
                f"{text!r} is not a valid key for {self.name} ({python_type.__name__})"
            ) from None
        return text

    @contextmanager
    def open_batch(self) -> Iterator[SQLBatch]:
        with translate_errors(self.label, refusals=True), self.engine.connect() as conn:
            conn = conn.execution_options(lethe_write=True)
            with conn.begin():
                yield SQLBatch(self, conn)


class SQLBatch:
    """One transaction: lock parents, act on them, delete children before parents.

    The root ``UPDATE`` or ``DELETE`` repeats the condition the rows were locked by, so it can
    only touch rows judged due even if the key were wrong; should it then miss a locked row,
    the whole batch rolls back rather than leave that row's children deleted.
    """

    def __init__(self, dataset: SQLDataset, conn: Connection) -> None:
        self.dataset = dataset
        self.conn = conn
        self.failed: dict[str, str] = {}  # a transaction applies all of a batch or none
        self._due: ColumnElement[bool] = true()

    def lock(
        self,
        condition: Condition,
        *,
        keys: Sequence[ItemKey] | None = None,
        after: ItemKey | None = None,
        limit: int,
        skip_locked: bool,
    ) -> list[Item]:
        ds = self.dataset
        self._due = ds.where(condition)
        query = ds._items(condition).order_by(ds.key).limit(limit)
        params: dict[str, Any] = {}
        if keys is not None:
            query = query.where(ds.keyset.match(ds.key))
            params = ds.keyset.params(keys)
        if after is not None:
            query = query.where(ds.key > after)
        if ds.locks_rows:
            skip = skip_locked and ds.dialect.skip_locked
            query = query.with_for_update(of=ds.root, skip_locked=skip)
        return [_item(row) for row in self.conn.execute(query, params)]

    def update(self, keys: Sequence[ItemKey], values: Mapping[str, Any]) -> int:
        ds = self.dataset
        converted = {
            name: to_column_value(ds.root, name, value) if hasattr(value, "tzinfo") else value
            for name, value in values.items()
        }
        for name in converted:
            column(ds.root, name)
        statement = update(ds.root).where(ds.keyset.match(ds.key), self._due).values(converted)
        changed = int(self.conn.execute(statement, ds.keyset.params(keys)).rowcount)
        if changed < len(set(keys)):
            self._missed("updated", changed, keys)
        return changed

    def delete(self, keys: Sequence[ItemKey]) -> DeleteOutcome:
        ds = self.dataset
        params = ds.keyset.params(keys)
        batch = {key_text(k) for k in keys}
        owners = self._owners(keys, params)
        outcome = DeleteOutcome(per_item={text: {} for text in batch})
        for node in ds.cascade.nodes:
            links = _link_columns(node)
            returning = [node.table.c[c] for c in links]
            # One DELETE per link rather than one with "a = ANY(…) OR b = ANY(…)": the OR
            # makes PostgreSQL's planner fall back to a sequential scan of the child table.
            counted: Counter[tuple[Any, ...]] = Counter()
            for link in node.links:
                clause = self.dataset._link_clause(node, link, ds.keyset.match)
                # Count returned link values in C (Counter), then attribute each distinct
                # value once below: a child row may belong to two parents of the batch.
                counted.update(
                    ds.dialect.deleted_rows(self.conn, node.table, clause, returning, params)
                )
            outcome.per_table[node.name] = sum(counted.values())
            direct = all(
                link.parent == ds.root.name and link.parent_columns == (ds.key.name,)
                for link in node.links
            )
            for values, rows in counted.items():
                if direct:
                    roots = {key_text(v) for v in values if v is not None} & batch
                else:
                    roots = _owners_of(node, dict(zip(links, values, strict=True)), owners)
                for root in roots:
                    per_root = outcome.per_item[root]
                    per_root[node.name] = per_root.get(node.name, 0) + rows
        parents = delete(ds.root).where(ds.keyset.match(ds.key), self._due)
        outcome.per_table[ds.root.name] = int(self.conn.execute(parents, params).rowcount)
        if outcome.per_table[ds.root.name] < len(batch):
            # Rows a cascade removed (a self-reference) are gone too; any other is still there.
            remaining = select(ds.key).where(ds.keyset.match(ds.key))
            if self.conn.execute(remaining, params).first() is not None:
                self._missed("deleted", outcome.per_table[ds.root.name], keys)
        return outcome

    def _missed(self, verb: str, rows: int, keys: Sequence[ItemKey]) -> None:
        raise StoreError(
            f"{self.dataset.label}: the batch {verb} {rows} of {len(set(keys))} locked rows of "
            f"{self.dataset.root.name}: the others no longer matched the condition they were "
            "locked by; the batch was rolled back"
        )

    def _owners(
        self, keys: Sequence[ItemKey], params: dict[str, Any]
    ) -> dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], set[str]]]:
        """For rows deeper than one level: which root each intermediate row belongs to, read
        parents-first while the rows still exist."""
        ds = self.dataset
        owners: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], set[str]]] = {
            (ds.root.name, (ds.key.name,)): {(k,): {key_text(k)} for k in keys}
        }
        for node in reversed(ds.cascade.nodes):
            referenced = ds.cascade.referenced(node.name)
            if not referenced:
                continue
            link_cols = _link_columns(node)
            wanted = sorted({c for ref in referenced for c in ref} | set(link_cols))
            query = select(*(node.table.c[c] for c in wanted)).where(
                ds.membership(node.name, ds.keyset.match)
            )
            for row in self.conn.execute(query, params).mappings():
                belongs = _owners_of(node, row, owners)
                for ref in referenced:
                    slot = owners.setdefault((node.name, ref), {})
                    slot.setdefault(tuple(row[c] for c in ref), set()).update(belongs)
        return owners


def _item(row: Any) -> Item:
    return Item(row[0], bool(row[1]), bool(row[2]) if len(row) > 2 else False)


def _date(utc_text: str | None, unreadable: str | None) -> datetime | Unreadable | None:
    """A SQLite date read by :func:`sqlite_dates.utc_text` / ``unreadable_text``."""
    if unreadable is not None:
        return Unreadable(unreadable)
    if utc_text is None:
        return None
    return datetime.fromisoformat(utc_text).replace(tzinfo=UTC)


def _link_columns(node: Node) -> list[str]:
    return sorted({c for link in node.links for c in link.columns})


def _owners_of(
    node: Node,
    row: Mapping[Any, Any],
    owners: Mapping[tuple[str, tuple[str, ...]], Mapping[tuple[Any, ...], set[str]]],
) -> set[str]:
    belongs: set[str] = set()
    for link in node.links:
        value = tuple(row[c] for c in link.columns)
        belongs |= owners.get((link.parent, link.parent_columns), {}).get(value, set())
    return belongs
