"""SQL databases as a lethe store: SQLite, PostgreSQL, MariaDB and MySQL (by SQLAlchemy URL)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, MetaData, Table, inspect

from lethe import secrets
from lethe.config.datasets import DatasetConfig
from lethe.errors import ConfigError, LiveCheckError
from lethe.stores.base import DatasetUse, Finding
from lethe.stores.sql import cascade as cascading
from lethe.stores.sql import catalog
from lethe.stores.sql.checks import check_dataset, require_unique_key
from lethe.stores.sql.dataset import SQLDataset
from lethe.stores.sql.engine import create_sql_engine, translate_errors
from lethe.stores.sql.files import file_columns
from lethe.stores.sql.filters import check_filter_types
from lethe.stores.sql.grants import grant_statements
from lethe.stores.sql.partitions import PartitionedDataset, partition_findings, read_layout

__all__ = ["SQLStore"]


class SQLStore:
    """A database reached by a SQLAlchemy URL. A table is reflected once, when a dataset
    that can reach it is bound (:meth:`reach`), not the whole schema."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.label = f"store {name} ({secrets.redact_url(url)})"
        self.engine: Engine = create_sql_engine(url, where=f"stores.{name}.url")
        self._metadata: dict[str | None, MetaData] = {}
        self._names: dict[str | None, set[str]] = {}
        self._links: dict[str | None, set[catalog.Link]] = {}
        self._bound: dict[str, SQLDataset] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def table_names(self, schema: str | None) -> set[str]:
        """The names of ``schema``'s tables, read once (one catalog query)."""
        if schema not in self._names:
            with translate_errors(self.label):
                self._names[schema] = set(inspect(self.engine).get_table_names(schema=schema))
        return self._names[schema]

    def reflected(self, names: Iterable[str], schema: str | None) -> MetaData:
        """The tables of ``schema`` reflected so far, after reflecting those of ``names``
        that exist and are not yet (together: a handful of catalog queries, whatever their
        number). Foreign keys to tables not reflected stay unresolved."""
        metadata = self._metadata.setdefault(schema, MetaData())
        prefix = f"{schema}." if schema else ""
        existing = self.table_names(schema)
        missing = sorted(
            n for n in set(names) if n in existing and f"{prefix}{n}" not in metadata.tables
        )
        if missing:
            with translate_errors(self.label):
                metadata.reflect(bind=self.engine, schema=schema, only=missing, resolve_fks=False)
        return metadata

    def reach(self, config: DatasetConfig) -> set[str]:
        """The tables binding ``config`` needs reflected: its table, those its cascade list
        names, and every table referencing one of them through foreign keys, transitively (a
        cascade can reach no other); and the tables its ``on_delete`` and hold table name."""
        assert config.table is not None
        roots = {config.table}
        if isinstance(config.cascade, list):
            for step in config.cascade:
                roots |= {step.table, step.parent or config.table}
        named = {name.partition(".")[0] for name in config.on_delete or {}}
        if config.hold_table is not None:
            named.add(config.hold_table.table)
        schema = config.db_schema
        if schema not in self._links:
            with translate_errors(self.label), self.engine.connect() as conn:
                self._links[schema] = catalog.links(conn, schema)
        return catalog.referencing(self._links[schema], roots) | named

    def table(self, name: str, schema: str | None, where: str) -> Table:
        """A reflected table, or a :class:`LiveCheckError` naming the missing one."""
        metadata = self.reflected([name], schema)
        qualified = f"{schema}.{name}" if schema else name
        table = metadata.tables.get(qualified)
        if table is None:
            raise LiveCheckError(f"table {qualified!r} does not exist in {self.label}", where)
        return table

    def bind(self, dataset: str, config: DatasetConfig) -> SQLDataset:
        """The dataset's handle, with its table, cascade and hold table resolved."""
        if dataset in self._bound:
            return self._bound[dataset]
        where = f"datasets.{dataset}"
        if config.table is None or config.key is None:
            raise ConfigError(f"{self.label} is a SQL database: give table and key", where)
        key = config.key_columns
        if config.table in self.table_names(config.db_schema):
            self.reflected(self.reach(config), config.db_schema)
        root = self.table(config.table, config.db_schema, where)
        for name in key:
            if name not in root.c:
                raise LiveCheckError(f"table {root.name!r} has no column {name!r}", f"{where}.key")
        check_filter_types(root, config.where, where)
        require_unique_key(root, key, where)
        metadata = self.reflected((), config.db_schema)
        try:
            if config.cascade == "none":
                cascade = cascading.Cascade(root=root, key=key)
            else:
                cascade = cascading.build(
                    metadata,
                    root,
                    key,
                    ondelete=self._ondelete(metadata),
                    steps=[] if config.cascade == "auto" else config.cascade,
                    overrides=config.on_delete,
                    no_action=config.no_action,
                )
        except LiveCheckError as exc:
            part = "on_delete" if exc.message.startswith("on_delete") else "cascade"
            raise LiveCheckError(exc.message, f"{where}.{part}") from None
        files = file_columns(cascade, config.files, where)
        hold_table = None
        holds = config.hold_table
        if holds is not None:
            hold_table = self.table(holds.table, config.db_schema, f"{where}.holds")
            for name in (*holds.key_columns, *filter(None, [holds.released_column])):
                if name not in hold_table.c:
                    raise LiveCheckError(
                        f"hold table {hold_table.name!r} has no column {name!r}", f"{where}.holds"
                    )
        parts = (dataset, config, self.engine, root, cascade, hold_table, self.label)
        handle = SQLDataset(*parts)
        with translate_errors(self.label), self.engine.connect() as conn:
            layout = read_layout(conn, handle)
        # A partition dropped whole would take its rows' file names with it: row by row then.
        if layout is not None and not files:
            handle = PartitionedDataset(*parts).partitioned(layout)
        handle.file_columns = files
        self._bound[dataset] = handle
        return handle

    def _ondelete(self, metadata: MetaData) -> dict[tuple[str, tuple[str, ...]], str]:
        """SQLite's reflection misses inline ``ON DELETE`` rules; its pragma does not."""
        if self.dialect != "sqlite":
            return {}
        rules: dict[tuple[str, tuple[str, ...]], str] = {}
        with translate_errors(self.label), self.engine.connect() as conn:
            for table in metadata.tables.values():
                rows = conn.exec_driver_sql(f'PRAGMA foreign_key_list("{table.name}")').all()
                grouped: dict[int, list[tuple[int, str, str]]] = {}
                for row in rows:  # id, seq, table, from, to, on_update, on_delete, match
                    grouped.setdefault(row[0], []).append((row[1], row[3], row[6]))
                for parts in grouped.values():
                    columns = tuple(name for _, name, _ in sorted(parts))
                    rules[(table.name, columns)] = parts[0][2]
        return rules

    def check(self, dataset: str, config: DatasetConfig) -> list[Finding]:
        """Live checks of one dataset (see :func:`lethe.stores.sql.checks.check_dataset`)."""
        handle = self.bind(dataset, config)
        with translate_errors(self.label):
            return check_dataset(handle, inspect(self.engine)) + partition_findings(handle)

    def grants(self, uses: Sequence[DatasetUse], role: str) -> list[str]:
        """Least-privilege GRANTs for the datasets this store serves."""
        handles = [(self.bind(use.dataset, use.config), use) for use in uses]
        return grant_statements(handles, role, self.dialect, self.engine.url.database)

    def write_document(self, path: str, document: Mapping[str, Any]) -> None:
        """A database does not keep run records as documents: they are in lethe's state."""
        raise ConfigError(f"{self.label} cannot keep run records; use a blob store")

    def close(self) -> None:
        self.engine.dispose()
