"""The post-commit step: delete the files of committed batches from their storages.

Runs at the start of every real run (the retry ledger: files a crash or a refusing storage
left) and after each phase, once its batches are settled in the audit ledger. A file that
could not be deleted stays in the ledger and is reported in every run's errors until a later
run deletes it, so a frequent job (Validibot's "process purge retries" every five minutes)
works the ledger off; ``lethe files`` lists what waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lethe.errors import LetheError
from lethe.state.files import WaitingFile
from lethe.stores.files import FileStorage, file_storage

if TYPE_CHECKING:
    from lethe.engine.runtime import Runtime

__all__ = ["FileReport", "release_files"]

#: A run names at most this many files it could not delete, then sums up the rest.
ERROR_LINES = 100
_PAGE = 500


@dataclass
class FileReport:
    """What a run's post-commit steps did: files deleted, and those still failing (by id)."""

    deleted: int = 0
    failing: dict[int, str] = field(default_factory=dict)

    def errors(self) -> list[str]:
        """One line per file still not deleted, the first :data:`ERROR_LINES` of them."""
        lines = [self.failing[k] for k in sorted(self.failing)[:ERROR_LINES]]
        if len(self.failing) > ERROR_LINES:
            more = len(self.failing) - ERROR_LINES
            lines.append(f"{more} more files not deleted (`lethe files` lists them)")
        return lines


def release_files(rt: Runtime, run_id: str, report: FileReport | None = None) -> FileReport:
    """Delete every due file, recording each outcome; returns ``report`` updated. A file that
    failed earlier in the same run (``report.failing``) waits for the next run."""
    report = report if report is not None else FileReport()
    rt.files.forget_aborted()
    storages: dict[str, FileStorage | str] = {}
    after = 0
    while page := rt.files.due(_PAGE, after):
        after = page[-1].id
        page = [f for f in page if f.id not in report.failing]  # tried once per run
        deleted, failed = _delete(page, storages)
        count, still = rt.files.settle(run_id, deleted, failed)
        report.deleted += count
        for file in deleted:
            report.failing.pop(file.id, None)
        report.failing.update((f.id, _line(f)) for f in still)
    return report


def _delete(
    page: list[WaitingFile], storages: dict[str, FileStorage | str]
) -> tuple[list[WaitingFile], dict[int, str]]:
    """One page of files, grouped by storage and column (one storage call per group)."""
    groups: dict[tuple[str, str, str], list[WaitingFile]] = {}
    for file in page:
        groups.setdefault((file.storage, file.table, file.column), []).append(file)
    deleted: list[WaitingFile] = []
    failed: dict[int, str] = {}
    for (kind, table, column), group in groups.items():
        storage = _storage(kind, storages)
        if isinstance(storage, str):  # the storage itself is unavailable
            failed.update((f.id, storage) for f in group)
            continue
        refused = storage.delete(table, column, sorted({f.name for f in group}))
        for file in group:
            if file.name in refused:
                failed[file.id] = refused[file.name]
            else:
                deleted.append(file)
    return deleted, failed


def _storage(kind: str, storages: dict[str, FileStorage | str]) -> FileStorage | str:
    if kind not in storages:
        try:
            storages[kind] = file_storage(kind)
        except LetheError as exc:
            storages[kind] = f"file storage {kind!r} unavailable: {exc}"
    return storages[kind]


def _line(file: WaitingFile) -> str:
    tries = "1 attempt" if file.attempts == 1 else f"{file.attempts} attempts"
    return (
        f"file of {file.table}.{file.column} ({file.dataset} {file.item_key}) not deleted "
        f"from storage {file.storage!r} after {tries}: {file.error}; kept in the retry ledger"
    )
