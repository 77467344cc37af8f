"""Creating SQLAlchemy engines the way lethe needs them, and translating driver errors.

SQLite gets ``PRAGMA foreign_keys=ON`` (off by default, and a cascade must not silently skip
constraints), a busy timeout, and explicit transactions: a connection opened with the
execution option ``lethe_write=True`` starts with ``BEGIN IMMEDIATE`` so a batch holds the
write lock from its first read, the nearest SQLite has to ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from lethe import secrets
from lethe.errors import ConfigError, StoreError

__all__ = ["create_sql_engine", "describe_error", "translate_errors"]


def create_sql_engine(
    url: str, *, where: str, create_dirs: bool = False, wal: bool = False
) -> Engine:
    """An engine for ``url``; ``where`` names the store in error messages.

    ``wal`` puts a SQLite database in write-ahead-log mode (lethe's own state database: one
    fsync per commit instead of several, and readers never wait for the writer). An
    application's database keeps whatever journal mode it has.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(f"not a valid database URL: {secrets.redact_url(url)}", where) from exc
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if create_dirs and database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif backend == "postgresql" and parsed.drivername == "postgresql":
        # Prefer psycopg 3 (pipeline mode, server-side binding) over the psycopg2 default.
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"no driver for {parsed.drivername!r} (for PostgreSQL: lethe-retention[postgres])",
            where,
        ) from exc
    if backend == "sqlite":
        _configure_sqlite(engine, wal)
    return engine


def _configure_sqlite(engine: Engine, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("lethe_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def describe_error(exc: BaseException) -> str:
    """One line saying what the driver reported, with secrets masked."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    return secrets.scrub(text)


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors raised inside into :class:`StoreError` naming ``what``."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"{what}: {describe_error(exc)}") from exc
