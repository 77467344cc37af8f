"""lethe's state database: opened, migrated to the newest revision, used in transactions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection, make_url

from lethe import secrets
from lethe.errors import ConfigError, StoreError
from lethe.schedule.clock import Clock, SystemClock
from lethe.stores.sql.engine import create_sql_engine, translate_errors

__all__ = ["StateDB", "as_utc"]

_MIGRATIONS = Path(__file__).parent / "migrations"
#: Where Alembic records the schema's revision (the application may use Alembic too).
_VERSION_TABLE = "lethe_alembic_version"
_STATE_DIALECTS = ("sqlite", "postgresql")
#: The advisory lock key migrations take on PostgreSQL ("lethe" in ASCII).
_LOCK = 0x6C65746865


def head_revision() -> str:
    """The newest migration's revision: each is named after the four digits its file name
    starts with (``0008_anchors.py`` is ``"0008"``; tests/test_lazy_imports.py holds Alembic's
    own reading to it)."""
    return max(p.name[:4] for p in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _upgrade(conn: Connection) -> None:
    """Run the migrations up to the newest on ``conn``.

    Alembic (with Mako and Pygments, ~10 MB and ~0.1 s) is imported only here: a run finds
    the schema current far more often than not, and reads its revision without it.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps read back from SQLite are naive; every stored instant is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


if TYPE_CHECKING:
    from lethe.evidence.signing import Signer


class StateDB:
    """The state database at ``url``: created and upgraded on first use.

    ``clock`` is the time every record is stamped with (runs, leases, audit events, holds,
    deliveries): the real time, unless a test injects one (:mod:`lethe.testing`).
    """

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.label = f"state database {secrets.redact_url(url)}"
        self.engine: Engine = create_sql_engine(url, where="state.url", create=True, wal=True)
        if self.engine.dialect.name not in _STATE_DIALECTS:
            # Its migrations index TEXT columns and rely on sub-second timestamps, which
            # MariaDB and MySQL would need their own column types for.
            self.engine.dispose()
            raise ConfigError(
                f"lethe keeps its state in SQLite or PostgreSQL, not {self.engine.dialect.name} "
                "(a MariaDB or MySQL application database is fine: point state.url elsewhere)",
                "state.url",
            )
        self._migrated = False
        #: The key every ledger entry is signed with (``[evidence]``), or None: set by whoever
        #: loads the configuration, so that every :class:`~lethe.state.ledger.Ledger` on this
        #: database, and every transaction path it appends through, signs alike.
        self.signer: Signer | None = None

    def now(self) -> datetime:
        """The current instant by this database's clock (UTC)."""
        return self.clock.now()

    def _revisions(self) -> tuple[str | None, str]:
        """The schema's current revision (None before the first migration) and the newest."""
        with translate_errors(self.label), self.engine.connect() as conn:
            current = None
            if inspect(conn).has_table(_VERSION_TABLE):
                rows = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).all()
                # One row on a linear history; anything else is Alembic's to sort out.
                current = rows[0][0] if len(rows) == 1 else None
            conn.rollback()
        return current, head_revision()

    def status(self) -> str:
        """Where the schema stands, found without creating or migrating anything (for
        ``lethe check``, which changes nothing)."""
        self._require_writable()
        url = self.engine.url
        database = url.database or ""
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        if url.get_backend_name() == "sqlite" and on_disk and not Path(database).exists():
            return "not created yet (created when lethe first needs it: a run, plan or hold)"
        current, head = self._revisions()
        if current == head:
            return "reachable, schema up to date"
        if current is None:
            return "reachable; lethe's tables are created by the first run"
        return f"reachable; schema at {current}, migrated to {head} by the next run"

    def migrate(self) -> None:
        """Bring the tables to the newest revision (a no-op when already there)."""
        if self._migrated:
            return
        self._require_writable()
        current, head = self._revisions()
        if current != head:
            # Replicas starting together on a fresh database must not both create the tables:
            # take a lock first (SQLite: the write lock; PostgreSQL: an advisory lock held to the
            # end of the transaction); whoever waited then finds the work done.
            with translate_errors(self.label), self.engine.connect() as conn:
                conn = conn.execution_options(lethe_write=True)
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
                    _upgrade(conn)
        self._migrated = True

    def _require_writable(self) -> None:
        """A SQLite file lethe cannot write is refused in one line before it is opened:
        SQLite would fail on the first write (or, with ``chattr +i`` and a memory-mapped WAL
        index, kill the process with SIGBUS) after the run had begun."""
        url = make_url(self.url)
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return
        if database.startswith("file:"):
            return  # a URI filename (mode=ro, …): the URI says what it wants
        path = Path(database)
        files = [path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm"))]
        for file in files:
            if file.exists() and not os.access(file, os.W_OK):
                raise StoreError(
                    f"{self.label} is read-only: {file} cannot be written (permissions, or "
                    "chattr +i); lethe records every run and audit event there"
                )
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # created on first connection: its nearest parent must allow it
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(
                f"{self.label} is read-only: its directory {folder} cannot be written "
                "(SQLite keeps its journal next to the file)"
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock at once)."""
        self.migrate()
        with translate_errors(self.label), self.engine.connect() as conn:
            conn = conn.execution_options(lethe_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        self.migrate()
        with translate_errors(self.label), self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
