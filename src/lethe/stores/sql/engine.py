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

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from lethe import secrets
from lethe.errors import ConfigError, DataRefusedError, StoreError

__all__ = ["create_sql_engine", "describe_error", "is_refusal", "translate_errors"]

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
        if on_disk and create:
            _make_folder_first(engine, Path(database))
        elif on_disk:
            _open_existing_only(engine, Path(database))
    elif backend in ("mysql", "mariadb"):
        _configure_mysql(engine)
    return engine


def _make_folder_first(engine: Engine, path: Path) -> None:
    """Create the file's folder on the first connection, not before: an engine that is never
    used (a file that fails its checks) leaves nothing behind."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, _cargs: list[Any], _cparams: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)


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
def translate_errors(what: str, *, refusals: bool = False) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors raised inside into :class:`StoreError` naming ``what``.

    ``refusals`` (a batch's transaction): a change (``DELETE``, ``UPDATE``, ``INSERT``, the
    commit) refused for the data it touched (:func:`is_refusal`) becomes a
    :class:`DataRefusedError` saying which table the database refused, so the executor can
    isolate the rows that caused it. A query that fails is never a refusal: it would fail for
    any subset of the batch.
    """
    try:
        yield
    except SQLAlchemyError as exc:
        change = _change(exc) if refusals and is_refusal(exc) else None
        if change is not None:
            raise DataRefusedError(f"{change}{describe_error(exc)}") from exc
        raise StoreError(f"{what}: {describe_error(exc)}") from exc


#: SQLSTATE classes about the data, not the database: 22 data exception, 23 integrity
#: constraint violation, 27 triggered data change violation, 44 WITH CHECK OPTION violation;
#: P0001 is PL/pgSQL's ``RAISE EXCEPTION`` (a trigger refusing a row).
_SQLSTATE_CLASSES = ("22", "23", "27", "44")
_SQLSTATES = ("P0001",)
#: MySQL and MariaDB errors about the data that PyMySQL does not class as integrity or data
#: errors: 1644 a trigger's ``SIGNAL``, 3819 (MySQL) and 4025 (MariaDB) a CHECK constraint.
_MYSQL_ERRORS = (1644, 3819, 4025)
_TARGET = re.compile(r"\s*(DELETE\s+FROM|UPDATE|INSERT\s+INTO)\s+([\w.$`\"\[\]]+)", re.I)
_VERBS = {"DELETE": "deleting from", "UPDATE": "updating", "INSERT": "inserting into"}


def is_refusal(exc: SQLAlchemyError) -> bool:
    """Whether the database refused a statement because of the rows it touched (a constraint,
    a trigger, a value), rather than failed (a lost connection, a permission, a deadlock)."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and (sqlstate[:2] in _SQLSTATE_CLASSES or sqlstate in _SQLSTATES):
        return True
    args: tuple[object, ...] = exc.orig.args if exc.orig is not None else ()
    return bool(args) and args[0] in _MYSQL_ERRORS


def _change(exc: SQLAlchemyError) -> str | None:
    """``"deleting from TABLE: "`` for the change refused (never its parameters, which may
    hold row contents), ``"at commit: "`` for a constraint checked at the end; None when the
    statement changes nothing."""
    statement = getattr(exc, "statement", None)
    if not statement or statement.strip().upper() == "COMMIT":
        return "at commit: "
    found = _TARGET.match(statement)
    if found is None:
        return None
    table = re.sub(r'[`"\[\]]', "", found.group(2))
    return f"{_VERBS[found.group(1).split()[0].upper()]} {table}: "
