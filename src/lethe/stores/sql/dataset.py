"""A SQL dataset: reads for planning and short locking batches for acting.

Every statement selects by primary key, never by ``ctid`` or row position: keys are stable
across transactions and unique across partitions.
"""

from __future__ import annotations

import uuid
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
    and_,
    case,
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

from lethe.config.datasets import DatasetConfig, FileColumn
from lethe.errors import ConfigError, LiveCheckError, StoreError
from lethe.model.conditions import Condition, Unreadable
from lethe.model.keys import ItemKey, key_text, parse_composite
from lethe.stores.base import DeleteOutcome, HeldFn, Item
from lethe.stores.files import FileRef
from lethe.stores.sql import setwise, sqlite_dates
from lethe.stores.sql.cascade import Cascade
from lethe.stores.sql.chained import Chain
from lethe.stores.sql.closure import Closure, HeldRows, Ident, item_of, judge
from lethe.stores.sql.compile import (
    column,
    compile_condition,
    to_column_value,
    unreadable_condition,
)
from lethe.stores.sql.dialects import dialect_of
from lethe.stores.sql.engine import translate_errors
from lethe.stores.sql.files import blanked_files, deleted_files
from lethe.stores.sql.gone import Gone
from lethe.stores.sql.keysets import KeySet, Match
from lethe.stores.sql.membership import joined_count, looked_up, membership
from lethe.stores.sql.removal import Removal, planned, remove
from lethe.stores.sql.shared import same_database
from lethe.stores.sql.slices import slices

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
        #: The key's columns; ``key`` is the one column, or their tuple (a composite key).
        self.key_columns = [column(table, name) for name in config.key_columns]
        self.key: ColumnElement[Any] = (
            self.key_columns[0] if len(self.key_columns) == 1 else tuple_(*self.key_columns)
        )
        self.hold_table = hold_table
        self.label = label
        #: Columns naming files (``files``, resolved when the store binds the dataset).
        self.file_columns: list[FileColumn] = []
        self._related: dict[str, Table] = {}
        self.sqlite = engine.dialect.name == "sqlite"
        self.dialect = dialect_of(engine)
        self.locks_rows = self.dialect.row_locks
        self.keyset = KeySet(_ROOT_KEYS, self.key_columns, engine.dialect)
        self._setwise = setwise.applies(cascade, self.dialect.name)
        self._chains: dict[Condition | None, Chain] = {}

    @property
    def setwise(self) -> bool:
        """Removed table by table in SQL rather than judged row by row (see :mod:`.setwise`);
        columns naming files (resolved at bind) are read from the judged rows, so a dataset
        that has any keeps the row path."""
        return self._setwise and not self.file_columns

    @setwise.setter
    def setwise(self, value: bool) -> None:
        self._setwise = value

    def chain(self, condition: Condition | None) -> Chain | None:
        """A batch's removal as one statement, where the dialect allows it (built once per
        condition: building costs more than running it)."""
        if not self.dialect.chained_deletes:
            return None
        try:
            return self._chains[condition]
        except KeyError:
            pass
        except TypeError:  # a condition holding a list: built each time
            return setwise.chained(self.cascade, self.keyset, self._where(condition))
        built = self._chains[condition] = setwise.chained(
            self.cascade, self.keyset, self._where(condition)
        )
        return built

    def _where(self, condition: Condition | None) -> ColumnElement[bool]:
        return true() if condition is None else self.where(condition)

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
        spec = self.config.hold_table
        if spec is None or self.hold_table is None:
            return false()
        hold = self.hold_table
        clause = and_(
            *(
                column(hold, name) == key
                for name, key in zip(spec.key_columns, self.key_columns, strict=True)
            )
        )
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
            return select(*self.key_columns, self.held().label("held")).where(selected)
        flagged = select(
            *self.key_columns, self.held().label("held"), unreadable.label("unreadable")
        )
        return flagged.where(or_(selected, unreadable))

    def membership(self, roots: Match) -> dict[str, ColumnElement[bool]] | None:
        """Per cascade table, the rows that go with a root matched by ``roots`` (SQL only);
        None for a cascade through a cycle of tables (see :mod:`.membership`)."""
        return membership(self.cascade, roots)

    # -- reads ------------------------------------------------------------------------------

    def select(
        self,
        condition: Condition,
        *,
        after: ItemKey | None = None,
        limit: int,
        exclude: Sequence[ItemKey] = (),
    ) -> list[Item]:
        query = self._items(condition).order_by(*self.key_columns).limit(limit)
        if after is not None:
            query = query.where(self.key > after)
        if exclude:
            query = query.where(self.key.not_in(list(exclude)))
        with translate_errors(self.label), self.engine.connect() as conn:
            return [self._item(row) for row in conn.execute(query).all()]

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
        # One scan of the selected rows counts both (two counts read them twice).
        free = ~self.held()
        if exclude:
            free = free & self.key.not_in(list(exclude))
        query = select(func.count(case((free, 1))), func.count()).select_from(self.root)
        with translate_errors(self.label), self.engine.connect() as conn:
            n_eligible, n_total = conn.execute(query.where(self.where(condition))).one()
        return int(n_eligible), int(n_total) - int(n_eligible)

    def eligible_keys(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int
    ) -> list[ItemKey]:
        query = (
            select(*self.key_columns)
            .where(self._eligible(condition, exclude))
            .order_by(*self.key_columns)
            .limit(max(0, limit))
        )
        with translate_errors(self.label), self.engine.connect() as conn:
            return [self.key_of(row) for row in conn.execute(query).all()]

    def preview_delete(
        self,
        keys: Sequence[ItemKey],
        *,
        batch_size: int,
        held: HeldFn | None = None,
        limit: int | None = None,
    ) -> DeleteOutcome:
        """What a purge of ``keys`` would do, judged batch by batch in the order given (the
        run's: key order, as the database sorts) as a run does (a later batch sees the rows
        earlier ones removed), with reads only."""
        if not self.cascade.edges:
            acting = len(keys) if limit is None else min(len(keys), limit)
            return DeleteOutcome(per_table={self.root.name: acting})
        outcome = DeleteOutcome()
        ordered = keys  # a run's batches take them in the database's order: so do these
        gone = Gone(self.cascade, ordered)
        size = max(1, batch_size)
        left = limit
        start = 0
        taken: set[str] = set()  # items of the dataset's table a cascade removed
        with translate_errors(self.label), self.engine.connect() as conn:
            # A capped run's last batches take only what the cap leaves; past it, nothing.
            while start < len(ordered) and (left is None or left > 0):
                step = size if left is None else min(size, left)
                chunk = ordered[start : start + step]
                start += step
                closure = judge(conn, self.cascade, chunk, gone, self._holds(held))
                skip = closure.blocked.keys() | closure.swept
                items = [key_text(k) for k in chunk if key_text(k) not in skip]
                if left is not None:
                    left -= len(items)
                deleted, _found, removal = planned(conn, closure, items)
                if start < len(ordered):
                    gone.add(closure, deleted, start)
                _merge(outcome, deleted, removal, closure)
                taken |= _cascaded_items(closure, deleted, items)
                # Each batch in its own read-only transaction, as a run commits each batch:
                # one across them all held a snapshot (and vacuum back) for the whole plan.
                conn.rollback()
        # Keys the cap left unjudged that an acted item's tree takes: not left for later.
        outcome.swept |= {t for k in ordered[start:] if (t := key_text(k)) in taken}
        return outcome

    def cascade_counts_where(
        self, condition: Condition, *, exclude: Sequence[ItemKey] = (), limit: int | None
    ) -> dict[str, int]:
        roots: Select[Any] = select(*self.key_columns).where(self._eligible(condition, exclude))
        if limit is not None:  # the first ``limit`` in key order, as a capped run takes them
            roots = roots.order_by(*self.key_columns).limit(limit)
        # SQLite and PostgreSQL accept LIMIT inside IN (…) only through a derived table. On
        # SQLite the roots are selected once for all the counts (a materialized CTE, one
        # statement: no snapshot there holds anything back), not once per table; a
        # self-referencing table's closure is a CTE of its own, so those count one by one.
        # Elsewhere, uncapped, each row looks its roots up by key (see ``looked_up``).
        cascading = self.cascade.cascading()
        loops = any(e.child.name == e.parent.name for e in cascading)
        derived = None
        if self.sqlite and not loops:
            derived = roots.cte("lethe_roots").prefix_with("MATERIALIZED")
        source = roots.subquery() if derived is None else derived
        root_keys = select(*source.c)
        if derived is None and limit is None:
            clauses = self.membership(looked_up(source))
        else:
            clauses = self.membership(lambda col: col.in_(root_keys))
        if clauses is None:  # a cycle between tables: judged row by row, batch by batch
            in_order = roots if limit is not None else roots.order_by(*self.key_columns)
            keys = [self.key_of(row) for row in self._all(in_order)]
            preview = self.preview_delete(keys, batch_size=1000)
            acted = len(keys) - len(preview.blocked) - len(preview.swept)
            return preview.cascaded(self.root.name, acted)
        queries: dict[str, Select[Any]] = {}
        for name, clause in clauses.items():
            query = select(func.count()).select_from(self.cascade.member(name)).where(clause)
            if name == self.root.name:
                if not any(e.child.name == e.parent.name == name for e in cascading):
                    continue  # no edge back into the root table: its members are the roots
                # Rows the root's tree adds to the roots themselves, which it contains: a
                # difference of two counts in one snapshot, since ``NOT IN`` over a million
                # roots is a subplan per row once they no longer fit in PostgreSQL's work_mem.
                roots_count = select(func.count()).select_from(source)
                query = select(query.scalar_subquery() - roots_count.scalar_subquery())
            queries[name] = query
        counts: dict[str, int] = {}
        with translate_errors(self.label), self.engine.connect() as conn:
            if derived is not None and queries:  # none: a table without children or loops
                together = select(*(q.scalar_subquery().label(n) for n, q in queries.items()))
                counts = {n: int(v) for n, v in conn.execute(together).one()._mapping.items()}
                queries = {}
            tables = [self.cascade.member(n) for n in queries]
            sizes = self.dialect.size_estimates(conn, tables) if tables else {}
            conn.rollback()
            for name, query in queries.items():
                table, size = self.cascade.member(name), sizes.get(name)
                # A count holding a closure's CTE would compute it again for every slice.
                whole = loops or name == self.root.name
                # Where two edges reach a table from the roots' key, a count not made in
                # slices is one join per edge (see ``joined_count``).
                joined = None if limit is not None else joined_count(self.cascade, name, source)
                parts = [query] if whole else slices(conn, self.dialect, table, query, size, joined)
                counts[name] = 0
                for part in parts:
                    self.dialect.for_counting(conn)
                    counts[name] += int(conn.execute(part).scalar_one())
                    # One read-only transaction per count (or slice of one), not one across
                    # them all: on a large table their sum would hold a snapshot (and vacuum
                    # back) for seconds. The counts are an estimate of a run that starts later
                    # anyway.
                    conn.rollback()
        return {name: n for name, n in counts.items() if name != self.root.name or n}

    def _holds(self, registry: HeldFn | None) -> HeldRows:
        """Which rows of the dataset's table, among some keys, are held: by the application's
        hold table, or by lethe's registry."""

        def held(conn: Connection, keys: Sequence[ItemKey]) -> set[str]:
            found: set[str] = set()
            if self.hold_table is not None and keys:
                query = select(*self.key_columns).where(self.key.in_(list(keys)), self.held())
                found |= {key_text(self.key_of(row)) for row in conn.execute(query)}
            if registry is not None:
                found |= set(registry([key_text(k) for k in keys]))
            return found

        return held

    def _all(self, query: Select[Any]) -> list[Any]:
        with translate_errors(self.label), self.engine.connect() as conn:
            return list(conn.execute(query))

    def table_sizes(self) -> dict[str, int]:
        """Row counts; the server's estimate where it keeps a good one (PostgreSQL), since
        exact counts scan every table."""
        tables = [self.root, *self.cascade.touched()]
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
        query = select(*self.key_columns, *cols).where(self.keyset.match(self.key))
        width = len(self.key_columns)
        with translate_errors(self.label), self.engine.connect() as conn:
            for start in range(0, len(keys), 1000):
                params = self.keyset.params(keys[start : start + 1000])
                for row in conn.execute(query, params):
                    values = iter(row[width:])
                    found[key_text(self.key_of(row))] = {
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
        query = select(*self.key_columns, related.c[value]).join_from(
            self.root, related, related.c[key] == own
        )
        found: dict[str, Any] = {}
        with translate_errors(self.label), self.engine.connect() as conn:
            for start in range(0, len(keys), 1000):
                chunk = list(keys[start : start + 1000])
                for row in conn.execute(query.where(self.key.in_(chunk))):
                    found[key_text(self.key_of(row))] = row[-1]
        return found

    def require_columns(self, columns: set[str]) -> None:
        for name in sorted(columns):
            column(self.root, name)

    def parse_key(self, text: str) -> ItemKey:
        if len(self.key_columns) > 1:
            names = [c.name for c in self.key_columns]
            try:
                return parse_composite(text, names, [_converter(c) for c in self.key_columns])
            except ValueError as exc:
                raise ConfigError(f"{text!r} is not a valid key for {self.name}: {exc}") from None
        try:
            return _converter(self.key_columns[0])(text)  # type: ignore[no-any-return]
        except ValueError:
            python_type = self.key_columns[0].type.python_type
            raise ConfigError(
                f"{text!r} is not a valid key for {self.name} ({python_type.__name__})"
            ) from None

    def key_of(self, row: Sequence[Any]) -> ItemKey:
        """The key of a row whose first columns are the key's (a tuple for a composite key)."""
        width = len(self.key_columns)
        return row[0] if width == 1 else tuple(row[:width])

    def _item(self, row: Sequence[Any]) -> Item:
        width = len(self.key_columns)
        rest = row[width:]
        return Item(self.key_of(row), bool(rest[0]), bool(rest[1]) if len(rest) > 1 else False)

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
        self.blocked: dict[str, str] = {}
        #: Files the rows deleted or blanked named (``files``), deleted after the commit.
        self.files: list[FileRef] = []
        self._due: ColumnElement[bool] = true()
        self._condition: Condition | None = None
        self._closure: Closure | None = None

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
        self._condition = condition
        query = ds._items(condition).order_by(*ds.key_columns).limit(limit)
        params: dict[str, Any] = {}
        if keys is not None:
            query = query.where(ds.keyset.match(ds.key))
            params = ds.keyset.params(keys)
        if after is not None:
            query = query.where(ds.key > after)
        if ds.locks_rows:
            skip = skip_locked and ds.dialect.skip_locked
            query = query.with_for_update(of=ds.root, skip_locked=skip)
        # .all() fetches the driver's rows in one call; iterating fetches them one by one,
        # which at a few thousand roots a batch was half the lock's client time.
        return [ds._item(row) for row in self.conn.execute(query, params).all()]

    def update(self, keys: Sequence[ItemKey], values: Mapping[str, Any]) -> int:
        ds = self.dataset
        converted = {
            name: to_column_value(ds.root, name, value) if hasattr(value, "tzinfo") else value
            for name, value in values.items()
        }
        for name in converted:
            column(ds.root, name)
        self.files += blanked_files(self.conn, ds, keys, converted, self._due)
        statement = update(ds.root).where(ds.keyset.match(ds.key), self._due).values(converted)
        changed = int(self.conn.execute(statement, ds.keyset.params(keys)).rowcount)
        if changed < len(set(keys)):
            self._missed("updated", changed, keys)
        return changed

    def blockers(self, keys: Sequence[ItemKey], held: HeldFn | None = None) -> Mapping[str, str]:
        """Items whose deletion a protected referencing row, or a held row their cascade
        reaches, forbids (judged for all of ``keys`` before anything is deleted)."""
        if self.dataset.setwise:
            return {}  # nothing can block, and no row of the table is reached but the items
        holds = self.dataset._holds(held)
        self._closure = judge(self.conn, self.dataset.cascade, keys, holds=holds)
        self.blocked.update(self._closure.blocked)
        return dict(self._closure.blocked)

    def delete(self, keys: Sequence[ItemKey]) -> DeleteOutcome:
        ds = self.dataset
        batch = [key_text(k) for k in keys]
        if ds.setwise:
            removal = setwise.remove(
                self.conn,
                ds.cascade,
                ds.keyset,
                batch,
                keys,
                self._due,
                chain=ds.chain(self._condition),
            )
            if removal.roots_deleted < len(set(batch)):
                self._missed("deleted", removal.roots_deleted, keys)
            return _outcome(removal, ds.root.name)
        closure = self._closure
        if closure is None or not set(batch) <= closure.items:
            closure = judge(self.conn, ds.cascade, keys)
            blocked = set(closure.blocked) & set(batch)
            if blocked:
                raise StoreError(
                    f"{ds.label}: {', '.join(sorted(blocked))} of {ds.root.name} may not be "
                    "deleted (ask blockers() first); the batch was rolled back"
                )
        self._closure = None
        self.files += deleted_files(self.conn, ds.cascade, ds.file_columns, closure, batch)
        removal = remove(self.conn, closure, batch, self._due)
        if removal.roots_deleted < len(set(batch)):
            # An item another item's cascade removed (a self-reference) is gone too.
            remaining = select(*ds.key_columns).where(ds.keyset.match(ds.key))
            if self.conn.execute(remaining, ds.keyset.params(keys)).first() is not None:
                self._missed("deleted", removal.roots_deleted, keys)
        return _outcome(removal, ds.root.name)

    def shared_connection(self, state_url: str) -> Connection | None:
        """This transaction, when lethe's state is in the same database (see
        :class:`~lethe.stores.base.SharesTransaction`)."""
        return self.conn if same_database(state_url, self.dataset.engine.url) else None

    def _missed(self, verb: str, rows: int, keys: Sequence[ItemKey]) -> None:
        raise StoreError(
            f"{self.dataset.label}: the batch {verb} {rows} of {len(set(keys))} locked rows of "
            f"{self.dataset.root.name}: the others no longer matched the condition they were "
            "locked by; the batch was rolled back"
        )


def _converter(key: ColumnElement[Any]) -> Any:
    """Text (or a JSON value) to ``key``'s Python type: int and UUID columns convert, the
    rest keep text."""
    try:
        python_type = key.type.python_type
    except NotImplementedError:
        return str
    if python_type is int:
        return lambda v: v if isinstance(v, int) else int(v)
    if python_type is uuid.UUID:
        return lambda v: uuid.UUID(str(v))
    return str


def _date(utc_text: str | None, unreadable: str | None) -> datetime | Unreadable | None:
    """A SQLite date read by :func:`sqlite_dates.utc_text` / ``unreadable_text``."""
    if unreadable is not None:
        return Unreadable(unreadable)
    if utc_text is None:
        return None
    return datetime.fromisoformat(utc_text).replace(tzinfo=UTC)


def _outcome(removal: Removal, root: str) -> DeleteOutcome:
    per_table = dict(removal.deleted)
    per_table[root] = per_table.get(root, 0) + removal.roots_deleted
    return DeleteOutcome(
        per_table=per_table,
        per_item=removal.per_item,
        updated=dict(removal.updated),
        updated_keys=removal.updated_keys,
    )


def _merge(
    outcome: DeleteOutcome,
    deleted: Mapping[str, Mapping[Ident, set[str]]],
    removal: Removal,
    closure: Closure,
) -> None:
    """Add one previewed batch to ``outcome``: its rows per table, not per item (a preview
    of a million keys would hold a count per key)."""
    for table, idents in deleted.items():
        outcome.per_table[table] = outcome.per_table.get(table, 0) + len(idents)
    for table, rows in removal.updated.items():
        outcome.updated[table] = outcome.updated.get(table, 0) + rows
    for item, why in closure.blocked.items():
        outcome.blocked.setdefault(item, why)
    outcome.swept |= closure.swept


def _cascaded_items(
    closure: Closure, deleted: Mapping[str, Mapping[Ident, set[str]]], items: Sequence[str]
) -> set[str]:
    """Items whose row a cascade from other items removes (a self-referencing tree)."""
    root = closure.cascade.root.name
    rows = deleted.get(root, {})
    if len(rows) <= len(items):  # only the items' own rows
        return set()
    own = set(items)
    texts = (item_of(closure.cascade, closure.row(root, ident)) for ident in rows)
    return {t for t in texts if t not in own}
