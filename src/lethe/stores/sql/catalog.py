"""A schema's table names and foreign-key links, read from the server's catalog in one query.

Reflecting a table (its columns, keys, indexes, constraints) costs several catalog queries
and, on a schema of hundreds of tables, most of a short run's fixed time; a dataset needs only
the tables its purge can reach. Which those are follows from the foreign-key links alone
(:func:`referencing`), which PostgreSQL (``pg_constraint``) and SQLite
(``pragma_foreign_key_list`` joined to ``sqlite_master``) list in one query; elsewhere
(MariaDB, MySQL) SQLAlchemy's inspector reads them table by table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

__all__ = ["Link", "links", "referencing"]

#: (referencing table, referenced table), both in the schema read.
Link = tuple[str, str]

_POSTGRESQL = (
    "SELECT c.relname, p.relname FROM pg_constraint k "
    "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE k.contype = 'f' AND p.relnamespace = c.relnamespace "
    "AND n.nspname = coalesce(:schema, current_schema())"
)


def links(conn: Connection, schema: str | None) -> set[Link]:
    """Every foreign key of ``schema`` (the connection's default when None) between two of
    its tables, as a link between table names."""
    dialect = conn.dialect.name
    rows: Sequence[tuple[Any, Any]]
    if dialect == "postgresql":
        rows = conn.execute(text(_POSTGRESQL), {"schema": schema}).all()
    elif dialect == "sqlite":
        prefix = f'"{schema}".' if schema else ""
        rows = conn.exec_driver_sql(
            f'SELECT m.name, f."table" FROM {prefix}sqlite_master m '
            f"JOIN pragma_foreign_key_list(m.name{', ?' if schema else ''}) f "
            "WHERE m.type = 'table'",
            (schema,) if schema else (),
        ).all()
    else:
        # SQLAlchemy's, one table at a time. MariaDB's information_schema.REFERENTIAL_CONSTRAINTS
        # hides foreign keys from a least-privilege role (a cascade child vanished and its
        # parent's DELETE hit the constraint), so MariaDB/MySQL read them this way too.
        inspector = inspect(conn)
        rows = [
            (table, fk["referred_table"])
            for table in inspector.get_table_names(schema=schema)
            for fk in inspector.get_foreign_keys(table, schema=schema)
            if fk.get("referred_schema") in (None, schema)
        ]
    return {(str(child), str(parent)) for child, parent in rows}


def referencing(found: Iterable[Link], tables: Iterable[str]) -> set[str]:
    """``tables`` and every table that references one of them through foreign keys,
    transitively (the only tables a purge of their rows can reach)."""
    referrers: dict[str, set[str]] = {}
    for child, parent in found:
        referrers.setdefault(parent, set()).add(child)
    reached = set(tables)
    frontier = list(reached)
    while frontier:
        for child in referrers.get(frontier.pop(), ()):
            if child not in reached:
                reached.add(child)
                frontier.append(child)
    return reached
