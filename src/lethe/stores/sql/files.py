"""The files a SQL batch's rows name (``files`` of a table dataset), read inside the batch.

Read before the rows go, in the batch's own transaction, so the names are exactly those of
the rows deleted or blanked; the engine deletes the files after the commit
(:mod:`lethe.stores.files`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Connection

from lethe.config.datasets import FileColumn
from lethe.errors import ConfigError, LiveCheckError
from lethe.model.keys import ItemKey, key_text
from lethe.stores.files import FileRef, file_storage
from lethe.stores.sql.cascade import Cascade, identity
from lethe.stores.sql.closure import Closure, rows_where

if TYPE_CHECKING:
    from lethe.stores.sql.dataset import SQLDataset

__all__ = ["blanked_files", "check_file_columns", "deleted_files", "file_columns"]


def _by_table(cascade: Cascade, columns: Sequence[FileColumn]) -> dict[str, list[FileColumn]]:
    grouped: dict[str, list[FileColumn]] = {}
    for spec in columns:
        grouped.setdefault(spec.table or cascade.root.name, []).append(spec)
    return grouped


def file_columns(
    cascade: Cascade, files: Sequence[FileColumn] | str, where: str
) -> list[FileColumn]:
    """The dataset's file columns: as listed, or (``files = "django"``) every column of the
    dataset's table and its cascade's that the storage of that kind says holds its files."""
    if not isinstance(files, str):
        check_file_columns(cascade, files, where)
        return list(files)
    tables = [cascade.root.name, *(t.name for t in cascade.members)]
    try:
        found = file_storage(files).discover(tables)
    except ConfigError as exc:
        raise ConfigError(exc.message, f"{where}.files") from None
    return [FileColumn(table=t, column=c, storage=files) for t, c in found]


def check_file_columns(cascade: Cascade, columns: Sequence[FileColumn], where: str) -> None:
    """Raise :class:`LiveCheckError` unless each file column is a column of the dataset's
    table or of a table its cascade deletes from, whose storage can delete its files (a
    :class:`~lethe.errors.ConfigError` for a storage lethe does not know or cannot open)."""
    deleted = {cascade.root.name, *(t.name for t in cascade.members)}
    for index, spec in enumerate(columns):
        table = spec.table or cascade.root.name
        at = f"{where}.files[{index}]"
        if table not in deleted:
            raise LiveCheckError(
                f"table {table!r} is not the dataset's table or in its cascade", at
            )
        if spec.column not in cascade.member(table).c:
            raise LiveCheckError(f"table {table!r} has no column {spec.column!r}", at)
        try:
            problem = file_storage(spec.storage).check(table, spec.column)
        except ConfigError as exc:
            raise ConfigError(exc.message, f"{at}.storage") from None
        if problem:
            raise LiveCheckError(problem, at)


def deleted_files(
    conn: Connection,
    cascade: Cascade,
    columns: Sequence[FileColumn],
    closure: Closure,
    items: Sequence[str],
) -> list[FileRef]:
    """The files named by the rows that deleting ``items`` removes, each for the first item
    (in key order) whose deletion reaches its row."""
    if not columns:
        return []
    order = {item: index for index, item in enumerate(items)}
    deleted = closure.deleted(set(items))
    refs: list[FileRef] = []
    for name, specs in _by_table(cascade, columns).items():
        rows = deleted.get(name)
        if not rows:
            continue
        table = cascade.member(name)
        ids = identity(table)
        wanted = [*ids, *(s.column for s in specs if s.column not in ids)]
        for row in rows_where(conn, table, wanted, ids, rows):
            owners = rows[tuple(row[c] for c in ids)]
            owner = min(owners, key=order.__getitem__)
            refs.extend(_refs(owner, name, specs, row))
    return refs


def blanked_files(
    conn: Connection,
    dataset: SQLDataset,
    keys: Sequence[ItemKey],
    values: Mapping[str, Any],
    due: ColumnElement[bool],
) -> list[FileRef]:
    """The files named by file columns of the dataset's own rows that ``values`` changes."""
    root = dataset.root.name
    specs = [s for s in dataset.file_columns if (s.table or root) == root and s.column in values]
    if not specs:
        return []
    columns = [dataset.root.c[s.column] for s in specs]
    width = len(dataset.key_columns)
    query = select(*dataset.key_columns, *columns).where(dataset.keyset.match(dataset.key), due)
    refs: list[FileRef] = []
    for row in conn.execute(query, dataset.keyset.params(keys)):
        named = dict(zip((s.column for s in specs), row[width:], strict=True))
        changed = [s for s in specs if named[s.column] != values[s.column]]
        refs.extend(_refs(key_text(dataset.key_of(row)), root, changed, named))
    return refs


def _refs(
    owner: str, table: str, specs: Sequence[FileColumn], row: Mapping[str, Any]
) -> list[FileRef]:
    return [
        FileRef(owner, table, s.column, s.storage, str(row[s.column]))
        for s in specs
        if row[s.column] not in (None, "")
    ]
