"""What lethe relies on that SQL databases do differently, decided once per engine.

=====================  ==================  ============================  ====================
                       PostgreSQL          MariaDB / MySQL               SQLite
=====================  ==================  ============================  ====================
a batch's lock         ``FOR UPDATE SKIP   ``FOR UPDATE SKIP LOCKED``    ``BEGIN IMMEDIATE``
                       LOCKED``            (MariaDB ≥ 10.6, MySQL ≥      (the database's
                                           8.0.1); plain ``FOR UPDATE``  write lock)
                                           (waits) before
children's link values ``DELETE …          ``DELETE … RETURNING``        ``DELETE …
of a delete            RETURNING``         (MariaDB ≥ 10.5); MySQL:      RETURNING``
                                           ``SELECT … FOR UPDATE`` then
                                           ``DELETE``
table sizes            planner estimates   exact ``COUNT(*)`` (InnoDB's  exact ``COUNT(*)``
                       (``pg_class``)      estimates are off by ~50 %)
a batch's keys         ``= ANY(:array)``   expanding ``IN (…)``          ``json_each(:json)``
                                           (:mod:`.keysets`)
a cascade's deletes    one statement of    one ``DELETE`` per edge       one ``DELETE`` per
(where no row needs    ``DELETE`` in       (the row path on MySQL)       edge (no ``DELETE``
judging)               ``WITH`` clauses                                  in ``WITH``)
                       (:mod:`.chained`)
a count's transaction  ``SET LOCAL jit =   as is                         as is
(the breaker's)        off``
=====================  ==================  ============================  ====================

The connection settings (``READ COMMITTED`` and a UTC session on MariaDB/MySQL) are made in
:mod:`lethe.stores.sql.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, Table, text
from sqlalchemy.engine import Connection

__all__ = ["MYSQL_FAMILY", "SQLDialect", "dialect_of"]

#: SQLAlchemy's dialect name for MariaDB and MySQL alike.
MYSQL_FAMILY = "mysql"


@dataclass(frozen=True)
class SQLDialect:
    """The behaviours of one database server that lethe's SQL differs on."""

    name: str
    #: ``SELECT … FOR UPDATE`` locks a batch's rows (SQLite locks the whole database instead).
    row_locks: bool
    #: ``SKIP LOCKED`` is available: a batch passes over rows someone else holds.
    skip_locked: bool
    #: ``DELETE … RETURNING`` inside ``WITH``: a batch's deletes as one statement, one round
    #: trip (:mod:`.chained`).
    chained_deletes: bool = False

    def for_counting(self, conn: Connection) -> None:
        """Settings for a read-only transaction that counts a large join, made at its start.

        PostgreSQL's JIT compiles such a count for about as long as it runs: 0.19 of 0.48 s
        counting a 1M-row table against 100k roots, 0.9 of 1.6 s against a million.
        """
        if self.name == "postgresql":
            conn.execute(text("SET LOCAL jit = off"))

    def size_estimates(self, conn: Connection, tables: Sequence[Table]) -> dict[str, int]:
        """Row counts the server keeps current without scanning (PostgreSQL's planner
        statistics, kept by autovacuum); tables missing here are counted exactly."""
        if self.name != "postgresql":
            return {}
        estimates = conn.execute(
            text(
                "SELECT oid::regclass::text, reltuples FROM pg_class "
                "WHERE oid = ANY(CAST(:names AS regclass[]))"
            ),
            {"names": [t.fullname for t in tables]},
        ).all()
        return {name.split(".")[-1]: int(n) for name, n in estimates if n >= 0}


def dialect_of(engine: Engine) -> SQLDialect:
    """The behaviours of ``engine``'s server (connecting once if it has not yet: the server's
    version decides some of them)."""
    sa = engine.dialect
    if sa.server_version_info is None and sa.name != "sqlite":
        with engine.connect():
            pass
    version = tuple(sa.server_version_info or ())
    if sa.name == "postgresql":
        return SQLDialect("postgresql", row_locks=True, skip_locked=True, chained_deletes=True)
    if sa.name == MYSQL_FAMILY:
        mariadb = bool(getattr(sa, "is_mariadb", False))
        skip = version >= ((10, 6) if mariadb else (8, 0, 1))
        return SQLDialect("mariadb" if mariadb else "mysql", row_locks=True, skip_locked=skip)
    return SQLDialect(sa.name, row_locks=False, skip_locked=False)
