"""Least-privilege statements for running lethe under a narrow database role.

For PostgreSQL, MariaDB and MySQL: ``SELECT`` on exactly the columns lethe reads, ``UPDATE`` on
exactly the columns it writes, ``DELETE`` on the tables it deletes from. Row locks (``FOR
UPDATE``) need ``UPDATE`` on at least one column on PostgreSQL (and a write privilege on MySQL
≥ 8.0.22), so a locked table without one gets ``UPDATE`` on its key column, which lethe never
writes. On MariaDB and MySQL, tables are named with their database (a ``GRANT`` is usually run
from an administrator's session with no database selected) and a role without a host is
``'role'@'%'``; a table lethe does not delete from also gets ``SHOW VIEW``, which lets it read
the table's definition (reflection runs ``SHOW CREATE TABLE``, which column privileges alone do
not allow) and none of its rows. SQLite has no roles: file permissions are the only control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lethe.stores.base import DatasetUse
from lethe.stores.sql.cascade import identity

if TYPE_CHECKING:
    from lethe.stores.sql.dataset import SQLDataset

__all__ = ["TableGrant", "grant_statements"]


@dataclass
class TableGrant:
    """What one role needs on one table."""

    select: set[str] = field(default_factory=set)
    update: set[str] = field(default_factory=set)
    delete: bool = False
    locks: bool = False


def _needs(uses: Sequence[tuple[SQLDataset, DatasetUse]]) -> dict[str, TableGrant]:
    tables: dict[str, TableGrant] = {}
    for handle, use in uses:
        root = tables.setdefault(handle.root.name, TableGrant())
        root.select |= {c.name for c in handle.key_columns} | use.reads
        root.update |= use.writes
        root.locks |= bool(use.writes) or use.deletes
        if use.deletes:
            root.delete = True
            cascade = handle.cascade
            for member in cascade.members:
                tables.setdefault(member.name, TableGrant()).delete = True
            for edge in cascade.edges:
                child = tables.setdefault(edge.child.name, TableGrant())
                child.select |= set(identity(edge.child)) | set(edge.columns)
                if edge.treatment in {"set_null", "set_default"}:
                    child.update |= set(edge.columns)
                parent = tables.setdefault(edge.parent.name, TableGrant())
                parent.select |= set(identity(edge.parent)) | set(edge.parent_columns)
        for name, columns in use.related.items():
            tables.setdefault(name, TableGrant()).select |= columns
        spec = handle.config.hold_table
        if spec is not None:
            hold = tables.setdefault(spec.table, TableGrant())
            hold.select |= {*spec.key_columns, *filter(None, [spec.released_column])}
    for table in tables.values():
        if table.locks and not table.update:
            table.update = {next(iter(sorted(table.select)))}
    return tables


def grant_statements(
    uses: Sequence[tuple[SQLDataset, DatasetUse]],
    role: str,
    dialect: str,
    database: str | None = None,
) -> list[str]:
    """GRANT statements covering every use of every dataset of one store; ``database`` is the
    database the tables are in (MariaDB and MySQL name it in each statement)."""
    if dialect == "sqlite":
        return [f"-- {dialect}: no roles; restrict access to the database file instead"]
    mysql = dialect == "mysql"  # SQLAlchemy's name for MariaDB and MySQL
    prefix = f"{database}." if mysql and database else ""
    statements: list[str] = []
    for table, need in sorted(_needs(uses).items()):
        on = f"{prefix}{table}"
        if need.select:
            statements.append(f"GRANT SELECT ({', '.join(sorted(need.select))}) ON {on} TO {role};")
        if need.update:
            statements.append(f"GRANT UPDATE ({', '.join(sorted(need.update))}) ON {on} TO {role};")
        if need.delete:
            statements.append(f"GRANT DELETE ON {on} TO {role};")
        elif mysql:
            statements.append(f"GRANT SHOW VIEW ON {on} TO {role};")
    return statements
