"""Run records: one row per run in the state database, and one JSON file per run on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from lethe import secrets
from lethe.errors import NotFoundError
from lethe.model.results import RunResult, RunStatus
from lethe.state.batches import process_identity
from lethe.state.db import StateDB, as_utc
from lethe.state.schema import runs

__all__ = ["RunLog"]


class RunLog:
    """Where runs are recorded and read back."""

    def __init__(
        self,
        state: StateDB,
        runs_dir: Path | None,
        sink: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.state = state
        self.runs_dir = runs_dir
        #: Also keeps each final record elsewhere (a blob store's audit prefix).
        self.sink = sink

    def start(
        self, run_id: str, policies: list[str], dry_run: bool, as_of: datetime, started: datetime
    ) -> None:
        """Record that a run began (status ``running``), before it changes anything."""
        with self.state.write() as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    policies=policies,
                    dry_run=dry_run,
                    as_of=as_of,
                    started_at=started,
                    status=RunStatus.RUNNING.value,
                    record={"process": process_identity()},
                )
            )

    def finish(self, result: RunResult, audit_head: tuple[int, str]) -> dict[str, Any]:
        """Store the final record and write it as ``<runs_dir>/<run_id>.json``."""
        document = result.to_document()
        document["auditHead"] = {"seq": audit_head[0], "hash": audit_head[1]}
        document = dict(json.loads(secrets.scrub(json.dumps(document))))
        with self.state.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == result.run_id)
                .values(
                    completed_at=result.completed_at,
                    status=result.status.value,
                    record=document,
                )
            )
        if self.runs_dir is not None:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            target = self.runs_dir / f"{result.run_id}.json"
            temporary = target.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, target)  # readers never see half a record
        if self.sink is not None:
            self.sink(result.run_id, document)
        return document

    def mark(self, run_id: str, status: RunStatus, completed: datetime) -> None:
        """Set a run's status without a full record (a run found dead by a later one)."""
        with self.state.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status.value, completed_at=completed)
            )

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs first, as summary rows."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
            ).mappings()
            return [_summary(row) for row in rows]

    def iter_recent(self, page: int = 200) -> Iterator[dict[str, Any]]:
        """Every run as a summary row, newest first, read a page at a time."""
        offset = 0
        while True:
            rows = self.recent_page(page, offset)
            yield from rows
            if len(rows) < page:
                return
            offset += page

    def recent_page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """One page of summary rows, newest first."""
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc())
        with self.state.read() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).mappings()
            return [_summary(row) for row in rows]

    def running(self) -> list[dict[str, Any]]:
        """Runs still marked ``running``."""
        with self.state.read() as conn:
            rows = conn.execute(select(runs).where(runs.c.status == RunStatus.RUNNING.value))
            return [_summary(row) for row in rows.mappings()]

    def running_with_process(self) -> list[dict[str, Any]]:
        """Runs still marked ``running``, with the process that started them."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.record).where(runs.c.status == RunStatus.RUNNING.value)
            ).mappings()
            return [{"id": r["id"], "process": (r["record"] or {}).get("process")} for r in rows]

    def show(self, run_id: str) -> dict[str, Any]:
        """The full record of one run (a unique prefix of its id is enough)."""
        with self.state.read() as conn:
            rows = (
                conn.execute(
                    select(runs).where(runs.c.id.startswith(run_id, autoescape=True)).limit(2)
                )
                .mappings()
                .all()
            )
        if not rows:
            raise NotFoundError(f"no run with id {run_id!r}; see `lethe runs`")
        if len(rows) > 1:
            raise NotFoundError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        row = rows[0]
        record: dict[str, Any] = dict(row["record"]) if row["record"] else _summary(row)
        return record


def _summary(row: Any) -> dict[str, Any]:
    started = as_utc(row["started_at"])
    completed = as_utc(row["completed_at"])
    record = row["record"] or {}
    return {
        "runId": row["id"],
        "policies": list(row["policies"]),
        "dryRun": bool(row["dry_run"]),
        "status": row["status"],
        "startedAt": started.isoformat() if started else None,
        "completedAt": completed.isoformat() if completed else None,
        "deleted": sum(p["acted"] for p in record.get("phases", []) if p.get("destructive", True)),
        "errors": len(record.get("errors", [])),
    }
