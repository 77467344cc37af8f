"""Settling what a crashed run left behind, at the start of the next run.

* A batch intent still ``pending`` whose process is gone: the action says which of its items
  show the effect; their events are appended (marked ``recovered``), the rest never happened.
* A run still ``running`` whose process is gone, or whose lease expired (its heartbeat stopped,
  on any host; :mod:`lethe.engine.lease`), is marked ``interrupted``.

A process counts as gone when it ran on this host and its pid no longer exists, or, from
another host, when its intent is older than :data:`STALE_AFTER`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from lethe.errors import ConfigError
from lethe.model.results import RunStatus
from lethe.state.batches import process_is_dead
from lethe.state.db import as_utc

if TYPE_CHECKING:
    from lethe.engine.runtime import Runtime

__all__ = ["STALE_AFTER", "recover", "settle_batch"]

STALE_AFTER = timedelta(hours=1)


def settle_batch(rt: Runtime, batch_id: str) -> str:
    """Settle one pending intent by looking at the store; returns a one-line account."""
    row = next((b for b in rt.batches.pending() if b["id"] == batch_id), None)
    if row is None:
        return f"batch {batch_id} already settled"
    payload = row["payload"]
    try:
        target = rt.target(row["policy"])
    except ConfigError as exc:
        return f"batch {batch_id} left pending: its policy can no longer be loaded ({exc})"
    action = target.actions[row["phase"]]
    created = as_utc(row["created_at"]) or rt.state.now()
    keys = [target.handle.parse_key(text) for text in payload["keys"]]
    applied = action.applied(target.handle, keys, target.context(created)) if keys else set()
    appended = rt.batches.settle(batch_id, applied, note=f"settled after run {row['run_id']}")
    return (
        f"batch {batch_id} of run {row['run_id']}: {len(applied)} of {len(keys)} items were "
        f"changed before the interruption; {appended} audit events recovered"
    )


def recover(rt: Runtime, *, current_run: str | None = None) -> list[str]:
    """Settle every intent and run a dead process left behind; returns what was done."""
    notes: list[str] = []
    now = rt.state.now()
    running = {run["runId"] for run in rt.runs.running()}
    for row in rt.batches.pending():
        if row["run_id"] == current_run:
            continue
        created = as_utc(row["created_at"]) or now
        gone = (
            row["run_id"] not in running
            or process_is_dead(row["payload"].get("process"))
            or now - created > STALE_AFTER
        )
        if gone:
            notes.append(settle_batch(rt, row["id"]))
    for run in rt.runs.running_with_process():
        if run["id"] == current_run:
            continue
        if process_is_dead(run["process"]):
            if rt.runs.mark(run["id"], RunStatus.INTERRUPTED, now):
                notes.append(f"run {run['id']} was interrupted (its process is gone)")
        elif (
            run["lease_expires_at"] is not None
            and run["lease_expires_at"] < now
            and rt.runs.reap(run["id"], now)
        ):
            notes.append(f"run {run['id']} was interrupted (its lease expired)")
    return notes
