"""Settling what a dead run left behind, at the start of the next run.

A run is alive while it is ``running`` and its lease has not expired: its heartbeat renews
the lease (:mod:`lethe.engine.lease`). Nothing else counts — not a pid (meaningless on another
host or in another PID namespace, and a zombie still has one), not the age of its records.

* A run still ``running`` whose lease expired is marked ``interrupted``.
* A batch intent still ``pending`` whose run is no longer alive is settled: the action says
  which of its items show the effect; their events are appended (marked ``recovered``) unless
  a later batch already audited the same action on them (:meth:`BatchLog.settle`).
* The record of every run so settled or marked is rebuilt from the audit events under its id,
  so it counts what the run really did (:meth:`RunLog.reconcile`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lethe.engine.partition_drops import EVENT, partitions_settled
from lethe.errors import ConfigError
from lethe.state.db import as_utc

if TYPE_CHECKING:
    from lethe.engine.runtime import Runtime

__all__ = ["recover", "settle_batch"]


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
    gone = partitions_settled(target, payload["keys"]) if payload["action_event"] == EVENT else None
    if gone is not None:
        applied, keys = gone, list(payload["keys"])
    else:
        keys = [target.handle.parse_key(text) for text in payload["keys"]]
        applied = action.applied(target.handle, keys, target.context(created)) if keys else set()
    appended = rt.batches.settle(batch_id, applied, note=f"settled after run {row['run_id']}")
    return (
        f"batch {batch_id} of run {row['run_id']}: {len(applied)} of {len(keys)} items were "
        f"changed before the interruption; {appended} audit events recovered"
    )


def recover(rt: Runtime, *, current_run: str | None = None) -> list[str]:
    """Settle every intent and run that a dead run left behind; returns what was done."""
    notes: list[str] = []
    now = rt.state.now()
    touched: set[str] = set()
    for run_id, lease in rt.runs.running_leases().items():
        if run_id != current_run and (lease is None or lease < now) and rt.runs.reap(run_id, now):
            notes.append(f"run {run_id} was interrupted (its lease expired)")
            touched.add(run_id)
    alive = set(rt.runs.running_leases()) | {current_run}
    for row in rt.batches.pending():
        if row["run_id"] not in alive:
            notes.append(settle_batch(rt, row["id"]))
            touched.add(row["run_id"])
    for run_id in sorted(touched):
        rt.runs.reconcile(run_id)
    return notes
