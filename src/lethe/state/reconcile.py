"""A dead run's record, rebuilt from the audit events under its id.

A run killed mid-work, or whose state database failed under it, never wrote its final record;
the ledger holds every event it committed (and those its intents' settlement appended). So a
run found dead is recorded with what it really did — per phase, and per table and action like a
finished run — instead of "deleted 0".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from lethe.state.ledger import DESTRUCTIVE
from lethe.state.schema import events, runs

__all__ = ["reconcile_record"]


_ACTION_EVENTS = frozenset({*DESTRUCTIVE, "updated", "warned"})
#: A partition dropped whole (:data:`lethe.engine.partition_drops.EVENT`): one event, many rows.
_PARTITION = "partition_dropped"


def reconcile_record(conn: Connection, run_id: str, tables: Mapping[str, str]) -> None:
    """Rewrite the record of a run without a final record from the audit events under its id;
    ``tables`` names each dataset's table in the counts (the dataset's name otherwise)."""
    row = conn.execute(select(runs.c.record).where(runs.c.id == run_id)).first()
    if row is None or "runId" in (row[0] or {}):
        return  # unknown, or it wrote its own final record
    phases, total = _phases(conn, run_id, tables)
    record = {
        **(row[0] or {}),
        "phases": phases,
        "counts": _counts(phases),
        "errors": ["the run did not reach its end (it died, or lost its lease)"],
        "reconciled": f"counts rebuilt from {total} audit events under its id",
    }
    conn.execute(update(runs).where(runs.c.id == run_id).values(record=record))


def _phases(
    conn: Connection, run_id: str, tables: Mapping[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """One entry per (policy, dataset, phase, action event) of the run, and the events read."""
    phases: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    held: dict[tuple[str, str, int], int] = {}
    total = 0
    query = select(
        events.c.policy, events.c.dataset, events.c.phase, events.c.event, events.c.details
    ).where(events.c.run_id == run_id)
    for policy, dataset, phase, event, details_json in conn.execute(query):
        total += 1
        where = (str(policy), str(dataset), int(phase)) if phase is not None else None
        if where is None:
            continue  # run_finished and the like
        if event == "skipped_hold":
            held[where] = held.get(where, 0) + 1
        whole = event == _PARTITION
        if event not in _ACTION_EVENTS and not whole:
            continue
        details = json.loads(details_json)
        if whole:  # a partition dropped whole: its rows, counted as the purge's deletions
            event = "hard_deleted"
        entry = phases.setdefault(
            (*where, event), {"action": details.get("action", event), "acted": 0, "cascade": {}}
        )
        entry["acted"] += int(details.get("rows", 0)) if whole else 1
        for table, rows in details.get("cascade", {}).items():
            entry["cascade"][table] = entry["cascade"].get(table, 0) + int(rows)
    documents = [
        {
            "policy": policy,
            "dataset": dataset,
            "table": tables.get(dataset, dataset),
            "phase": phase,
            **entry,
            "held": held.get((policy, dataset, phase), 0),
            "destructive": event in DESTRUCTIVE,
        }
        for (policy, dataset, phase, event), entry in sorted(phases.items())
    ]
    return documents, total


def _counts(phases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{table: {action: rows}}``, cascaded rows under the parent's action, as a run says."""
    counts: dict[str, dict[str, int]] = {}
    for phase in phases:
        for table, rows in {phase["table"]: phase["acted"], **phase["cascade"]}.items():
            slot = counts.setdefault(table, {})
            slot[phase["action"]] = slot.get(phase["action"], 0) + rows
    return counts
