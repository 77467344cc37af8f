"""Files that rows name: deleted from their storage after the batch that removed the rows.

A table dataset lists its file columns (``files``, :class:`~lethe.config.datasets.FileColumn`).
A batch that deletes a row of such a table, or blanks such a column, records each file the row
named as a :class:`FileRef` (:class:`ReleasesFiles`); the engine keeps those in its retry
ledger in the same state transaction as the batch's intent, and deletes them through a
:class:`FileStorage` once the batch committed (:mod:`lethe.engine.files`). A file is never
deleted for a batch that rolled back, and never forgotten for one that committed: a crash in
between, or a storage that refuses, leaves it in the ledger for the next run.

A kind of storage is a class registered here by name, like stores by URL scheme:
``"django"`` is the storage of the Django field stored in the column
(:mod:`lethe.contrib.django.files`). Lethe's own blob stores could be another.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lethe.errors import ConfigError

__all__ = [
    "FileRef",
    "FileStorage",
    "ReleasesFiles",
    "digest",
    "file_storage",
    "register_file_storage",
    "storage_kinds",
]


@dataclass(frozen=True)
class FileRef:
    """A file that ``table.column`` of the row of ``item`` (an item's key text) named."""

    item: str
    table: str
    column: str
    storage: str
    name: str


class FileStorage(Protocol):
    """Where the files of a kind of column live.

    Contract: :meth:`delete` deletes what it can and never raises for one file; a file that
    is already gone counts as deleted (so a retry after a crash is harmless).
    """

    def check(self, table: str, column: str) -> str | None:
        """Why this storage cannot delete the files ``table.column`` names (None: it can);
        asked before a run touches anything, so no row goes whose file would stay."""
        ...

    def delete(self, table: str, column: str, names: Sequence[str]) -> dict[str, str]:
        """Delete the files ``table.column`` named; returns the ones not deleted, with why."""
        ...

    def discover(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        """The ``(table, column)`` pairs among ``tables`` whose values name this storage's
        files (``files = "django"``: every ``FileField`` of the models stored there)."""
        ...


@runtime_checkable
class ReleasesFiles(Protocol):
    """Optional for a :class:`~lethe.stores.base.Batch`: the files its rows named.

    ``files`` lists the files of the rows the batch deleted, and of the file columns it
    blanked; the executor hands them to the retry ledger before the batch commits.
    """

    files: list[FileRef]


def digest(name: str) -> str:
    """What the audit says of a file: a file name may be personal data ("cv-jane-doe.pdf")."""
    return hashlib.sha256(name.encode()).hexdigest()


_KINDS: dict[str, str | Callable[[], FileStorage]] = {
    # Imported only when a policy names it: importing lethe never imports Django.
    "django": "lethe.contrib.django.files:DjangoFieldStorage",
}


def register_file_storage(kind: str, factory: Callable[[], FileStorage]) -> None:
    """Make ``storage = "<kind>"`` available to policy files."""
    _KINDS[kind] = factory


def storage_kinds() -> list[str]:
    """The kinds of file storage a policy may name."""
    return sorted(_KINDS)


def file_storage(kind: str) -> FileStorage:
    """A storage of ``kind``; :class:`~lethe.errors.ConfigError` for an unknown one."""
    factory = _KINDS.get(kind)
    if factory is None:
        raise ConfigError(f"unknown file storage {kind!r} (kinds: {', '.join(storage_kinds())})")
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        assert callable(factory)
    return factory()
