"""Run records: one row per run in the state database, and one JSON file per run on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from lethe import secrets
from lethe.errors import LeaseLostError, NotFoundError
from lethe.model.results import RunResult, RunStatus
from lethe.state.batches import process_identity
from lethe.state.db import StateDB, as_utc
from lethe.state.reconcile import reconcile_record
from lethe.state.schema import runs

__all__ = ["RunLog"]


class RunLog:
    """Where runs are recorded and read back."""

    def __init__(
        self,
        state: StateDB,
        runs_dir: Path | None,
        sink: Callable[[str, dict[str, Any]], None] | None = None,
        tables: Mapping[str, str] | None = None,
    ) -> None:
        self.state = state
        #: Each dataset's table, to name the counts of a record rebuilt from the ledger.
        self.tables = dict(tables or {})
        self.runs_dir = runs_dir
        #: Also keeps each final record elsewhere (a blob store's audit prefix).
        self.sink = sink

    def start(
        self,
        run_id: str,
        policies: list[str],
        dry_run: bool,
        as_of: datetime,
        started: datetime,
        lease: timedelta | None = None,
    ) -> None:
        """Record that a run began (status ``running``, holding a lease), before any change.

        The lease runs from now, not from ``started``: recovering what a dead run left may
        have taken longer than a lease.
        """
        now = self.state.now()
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
                    heartbeat_at=now,
                    lease_expires_at=now + lease if lease else None,
                )
            )

    def heartbeat(self, run_id: str, now: datetime, expires: datetime) -> bool:
        """Renew a running run's lease; False when the run is no longer ``running``."""
        with self.state.write() as conn:
            renewed = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=now, lease_expires_at=expires)
            )
            return renewed.rowcount == 1

    def runs_dir_problem(self) -> str | None:
        """Why ``runs_dir`` cannot receive run records (None: it can, or there is none)."""
        if self.runs_dir is None:
            return None
        where = self.runs_dir
        if where.exists() and not where.is_dir():
            return f"runs_dir {where} is not a directory"
        while not where.exists():  # created on the first record: its nearest parent must allow it
            where = where.parent
        if not where.is_dir() or not os.access(where, os.W_OK | os.X_OK):
            return f"runs_dir {self.runs_dir} cannot be written ({where} is not writable)"
        return None

    def finish(
        self,
        result: RunResult,
        audit_head: tuple[int, str],
        *,
        file: bool = True,
        policy_hash: str | None = None,
    ) -> dict[str, Any]:
        """Store the final record and (unless ``file`` is false) write it as
        ``<runs_dir>/<run_id>.json``; ``policy_hash`` is the fingerprint of the policy file
        the run applied (what receipts and certificates name as its version)."""
        document = result.to_document()
        document["auditHead"] = {"seq": audit_head[0], "hash": audit_head[1]}
        if policy_hash is not None:
            document["policyHash"] = policy_hash
        document = dict(json.loads(secrets.scrub(json.dumps(document))))
        with self.state.write() as conn:
            # Fenced: a run that another process reaped (lease expired) may not overwrite that.
            written = conn.execute(
                update(runs)
                .where(runs.c.id == result.run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(
                    completed_at=result.completed_at,
                    status=result.status.value,
                    record=document,
                )
            )
        if written.rowcount != 1:
            raise LeaseLostError(
                f"run {result.run_id} lost its lease (another process marked it as dead); "
                f"its outcome ({result.status.value}) was not recorded"
            )
        if self.runs_dir is not None and file:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            target = self.runs_dir / f"{result.run_id}.json"
            temporary = target.with_suffix(".json.tmp")
            temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, target)  # readers never see half a record
        if self.sink is not None:
            self.sink(result.run_id, document)
        return document

    def reap(self, run_id: str, now: datetime) -> bool:
        """Mark a running run whose lease expired before ``now`` (or that never had one) as
        ``interrupted``; False when it is alive or someone else settled it first."""
        with self.state.write() as conn:
            reaped = conn.execute(
                update(runs)
                .where(
                    runs.c.id == run_id,
                    runs.c.status == RunStatus.RUNNING.value,
                    or_(runs.c.lease_expires_at.is_(None), runs.c.lease_expires_at < now),
                )
                .values(status=RunStatus.INTERRUPTED.value, completed_at=now)
            )
            return reaped.rowcount == 1

    def reconcile(self, run_id: str) -> None:
        """Rebuild the record of a run that died (no final record) from its audit events."""
        with self.state.write() as conn:
            reconcile_record(conn, run_id, self.tables)

    def lease_of(self, run_id: str) -> tuple[str, datetime | None, datetime | None] | None:
        """A run's status, lease expiry and completion instant (None: no such run)."""
        with self.state.read() as conn:
            row = conn.execute(
                select(runs.c.status, runs.c.lease_expires_at, runs.c.completed_at).where(
                    runs.c.id == run_id
                )
            ).first()
        if row is None:
            return None
        return str(row[0]), as_utc(row[1]), as_utc(row[2])

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

    def completed(self, policy: str) -> bool:
        """Whether a real run of ``policy`` ever reached its end (succeeded or degraded): the
        first-run budget (``limits.breaker.first_run_max_rows``) applies until one has."""
        ended = (RunStatus.SUCCEEDED.value, RunStatus.DEGRADED.value)
        query = select(runs.c.policies).where(runs.c.dry_run.is_(False), runs.c.status.in_(ended))
        with self.state.read() as conn:
            # Policies are a JSON list, not portably searchable in SQL; the first match ends it.
            return any(policy in (names or ()) for names in conn.execute(query).scalars())

    def running_leases(self) -> dict[str, datetime | None]:
        """Runs still marked ``running``, with when their lease expires."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.lease_expires_at).where(
                    runs.c.status == RunStatus.RUNNING.value
                )
            ).all()
        return {str(row[0]): as_utc(row[1]) for row in rows}

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
        record: dict[str, Any] = dict(row["record"] or {})
        if "runId" not in record:  # still running, or found dead: no final record was written
            record = {**_summary(row), **record}
        return record


def _summary(row: Any) -> dict[str, Any]:
    started = as_utc(row["started_at"])
    completed = as_utc(row["completed_at"])
    record = row["record"] or {}
    dry_run = bool(row["dry_run"])
    removed = sum(p["acted"] for p in record.get("phases", []) if p.get("destructive", True))
    return {
        "runId": row["id"],
        "policies": list(row["policies"]),
        "dryRun": dry_run,
        "status": row["status"],
        "startedAt": started.isoformat() if started else None,
        "completedAt": completed.isoformat() if completed else None,
        "deleted": 0 if dry_run else removed,
        "wouldDelete": removed if dry_run else 0,
        "errors": len(record.get("errors", [])),
    }
