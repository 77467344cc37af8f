"""The file retry ledger: files that removed rows named, kept until their storage deleted them.

A batch's files are recorded in the state transaction of its intent (:meth:`BatchLog.prepare`),
before the store commits. They are *due* once that batch is ``committed``, and forgotten (never
deleted) once it is ``aborted``; while it is ``pending`` (a crash between the store's commit and
the ledger's) they wait for the next run's recovery to settle it. Each file is audited once,
``file_deleted`` when its storage deleted it, and ``file_not_deleted`` the first time it could
not; the row is removed when the file is gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from lethe.state.db import StateDB
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import batches, files
from lethe.stores.files import FileRef, digest

__all__ = ["FileLedger", "WaitingFile", "record_files"]

_COMMITTED, _ABORTED = "committed", "aborted"


@dataclass(frozen=True)
class WaitingFile:
    """A file of a committed batch, not deleted yet."""

    id: int
    batch_id: str
    run_id: str
    policy: str
    dataset: str
    item_key: str
    table: str
    column: str
    storage: str
    name: str
    attempts: int
    error: str | None

    def details(self) -> dict[str, Any]:
        """What the audit says of it: never the name, which may be personal data."""
        return {
            "table": self.table,
            "column": self.column,
            "storage": self.storage,
            "file_sha256": digest(self.name),
            "attempts": self.attempts + 1,
        }


def record_files(
    conn: Connection,
    batch_id: str,
    common: Mapping[str, Any],
    refs: Sequence[FileRef],
) -> None:
    """Keep ``refs`` under ``batch_id`` (in the transaction that records its intent)."""
    if not refs:
        return
    conn.execute(
        files.insert(),
        [
            {
                "batch_id": batch_id,
                "run_id": common["run_id"],
                "policy": common["policy"],
                "dataset": common["dataset"],
                "item_key": ref.item,
                "table_name": ref.table,
                "column_name": ref.column,
                "storage": ref.storage,
                "name": ref.name,
                "attempts": 0,
            }
            for ref in refs
        ],
    )


class FileLedger:
    """The retry ledger's reads and settlements."""

    def __init__(self, state: StateDB, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def forget_aborted(self) -> int:
        """Drop the files of batches that rolled back (their rows are still there)."""
        aborted = select(batches.c.id).where(batches.c.status == _ABORTED)
        with self.state.write() as conn:
            return int(conn.execute(delete(files).where(files.c.batch_id.in_(aborted))).rowcount)

    def due(self, limit: int = 1000, after: int = 0) -> list[WaitingFile]:
        """Files of committed batches still to delete, oldest first, ids above ``after``."""
        query = (
            select(files)
            .join(batches, batches.c.id == files.c.batch_id)
            .where(batches.c.status == _COMMITTED, files.c.id > after)
            .order_by(files.c.id)
            .limit(limit)
        )
        with self.state.read() as conn:
            return [_waiting(dict(row)) for row in conn.execute(query).mappings()]

    def waiting(self) -> list[tuple[WaitingFile, str]]:
        """Every file not deleted yet, with its batch's state (``committed``: due now;
        ``pending``: waits for recovery to settle its batch; ``aborted``: to be forgotten)."""
        query = (
            select(files, batches.c.status.label("batch_status"))
            .join(batches, batches.c.id == files.c.batch_id, isouter=True)
            .order_by(files.c.id)
        )
        with self.state.read() as conn:
            return [
                (_waiting(dict(row)), str(row["batch_status"] or _ABORTED))
                for row in conn.execute(query).mappings()
            ]

    def settle(
        self, run_id: str, deleted: Sequence[WaitingFile], failed: Mapping[int, str]
    ) -> tuple[int, list[WaitingFile]]:
        """Record one round of deletions: ``deleted`` files leave the ledger with a
        ``file_deleted`` event each; ``failed`` (id → why) stay, counted. Returns how many
        were deleted and the failed files as now recorded. A file another process settled
        meanwhile is not audited twice."""
        now = self.state.now()
        drafts: list[EventDraft] = []
        still: list[WaitingFile] = []
        with self.state.write() as conn:
            for file in deleted:
                gone = conn.execute(delete(files).where(files.c.id == file.id)).rowcount
                if gone:
                    drafts.append(_event(run_id, "file_deleted", file, {}))
            for file_id, why in failed.items():
                row = (
                    conn.execute(select(files).where(files.c.id == file_id).with_for_update())
                    .mappings()
                    .first()
                )
                if row is None:
                    continue
                file = _waiting(dict(row))
                if file.attempts == 0:
                    drafts.append(_event(run_id, "file_not_deleted", file, {"error": why}))
                conn.execute(
                    update(files)
                    .where(files.c.id == file_id)
                    .values(attempts=file.attempts + 1, error=why, tried_at=now)
                )
                still.append(_waiting({**row, "attempts": file.attempts + 1, "error": why}))
            self.ledger.append(conn, drafts)
        return sum(1 for d in drafts if d.event == "file_deleted"), still


def _waiting(row: Mapping[str, Any]) -> WaitingFile:
    return WaitingFile(
        id=int(row["id"]),
        batch_id=str(row["batch_id"]),
        run_id=str(row["run_id"]),
        policy=str(row["policy"]),
        dataset=str(row["dataset"]),
        item_key=str(row["item_key"]),
        table=str(row["table_name"]),
        column=str(row["column_name"]),
        storage=str(row["storage"]),
        name=str(row["name"]),
        attempts=int(row["attempts"]),
        error=row["error"],
    )


def _event(run_id: str, event: str, file: WaitingFile, extra: Mapping[str, Any]) -> EventDraft:
    return EventDraft(
        run_id=run_id,
        event=event,
        policy=file.policy,
        dataset=file.dataset,
        item_key=file.item_key,
        batch_id=file.batch_id,
        details={**file.details(), **extra},
    )
