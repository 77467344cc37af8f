"""Creating SQLAlchemy engines the way lethe needs them, and translating driver errors.

SQLite gets ``PRAGMA foreign_keys=ON`` (off by default, and a cascade must not silently skip
constraints), a busy timeout, and explicit transactions: a connection opened with the
execution option ``lethe_write=True`` starts with ``BEGIN IMMEDIATE`` so a batch holds the
write lock from its first read, the nearest SQLite has to ``SELECT … FOR UPDATE``.

MariaDB and MySQL get ``READ COMMITTED`` (under InnoDB's default ``REPEATABLE READ`` a batch's
``FOR UPDATE`` would also lock every row and gap it scanned past, blocking the application's
inserts for the whole transaction) and a UTC session, so ``TIMESTAMP`` columns, which the server
converts through the session's time zone, read and compare in UTC like every instant lethe binds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from lethe import secrets
from lethe.errors import ConfigError, StoreError

__all__ = ["create_sql_engine", "describe_error", "translate_errors"]

#: A backend's default driver when the URL names none (``postgresql://``, ``mysql://``): the
#: one lethe's extra installs, rather than SQLAlchemy's default (psycopg2, mysqlclient).
_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
#: The extra that brings a backend's driver.
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def create_sql_engine(url: str, *, where: str, create: bool = False, wal: bool = False) -> Engine:
    """An engine for ``url``; ``where`` names the store in error messages.

    A SQLite file is created (with its folder) only when ``create`` says so — lethe's own
    state database. An application's database must exist: lethe never creates one, and a
    missing file is a :class:`StoreError` saying so rather than an empty database whose
    tables "do not exist".

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
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        if create and on_disk:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif backend in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
    if parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_DRIVERS[parsed.drivername]}")
    try:
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(_no_driver(parsed.drivername, backend), where) from exc
    if backend == "sqlite":
        _configure_sqlite(engine, wal)
        if not create and on_disk:
            _open_existing_only(engine, Path(database))
    elif backend in ("mysql", "mariadb"):
        _configure_mysql(engine)
    return engine


def _no_driver(drivername: str, backend: str) -> str:
    extra = _EXTRAS.get(backend)
    if extra is None:
        return f"no driver for {drivername!r}"
    default = f"{backend}+{_DRIVERS[backend]}"
    hint = f'pip install "lethe-retention[{extra}]"'
    if drivername != default:
        hint += f" and use {default}://, or install the driver {drivername!r} names"
    return f"no driver for {drivername!r} ({hint})"


def _configure_mysql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET time_zone = '+00:00'")
        cursor.close()


def _open_existing_only(engine: Engine, path: Path) -> None:
    """Open ``path`` read-write without creating it (a ``mode=rw`` URI); a missing file is
    a driver error, which :func:`translate_errors` reports under the store's name."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if not path.is_file():
            raise sqlite3.OperationalError(
                f"the SQLite file {path.resolve()} does not exist "
                "(lethe never creates an application database; check the path in the URL)"
            )
        cargs[:] = [f"file:{quote(str(path.resolve()))}?mode=rw"]
        cparams["uri"] = True


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
