"""Batch intents: what a batch is about to commit in the application store.

The executor records an intent (keys, the events to append) before committing the store
transaction, and settles it after: ``committed`` with its events appended to the ledger, or
``aborted``. An intent left ``pending`` by a crash is settled by the next run, which asks the
action whether its effect is visible (:meth:`lethe.actions.Action.applied`).
"""

from __future__ import annotations

import os
import secrets as pysecrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from lethe.state.db import StateDB
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import batches

__all__ = ["BatchLog", "new_id", "process_identity", "process_is_dead"]

PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"
_COMMON = ("run_id", "policy", "dataset", "phase", "batch_id")


def new_id(prefix: str) -> str:
    """A sortable, readable id: ``<prefix>-20241026T020000Z-3fa9c1``."""
    return f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{pysecrets.token_hex(3)}"


def process_identity() -> dict[str, Any]:
    """Who is running: stored with runs and batches so that a crash can be recognised."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_is_dead(identity: Any) -> bool:
    """True only when ``identity`` names a process on this host that no longer exists."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(identity["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


class BatchLog:
    """Intent records in the state database."""

    def __init__(self, state: StateDB, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def prepare(
        self,
        batch_id: str,
        run_id: str,
        policy: str,
        phase: int,
        keys: Sequence[str],
        action_event: str,
        drafts: Sequence[EventDraft],
    ) -> None:
        """Record the intent; must succeed before the store transaction may commit."""
        # Every event of a batch shares its run, policy, dataset, phase and batch: store those
        # once and, per event, only what differs.
        first = drafts[0]
        payload = {
            "keys": list(keys),
            "action_event": action_event,
            "process": process_identity(),
            "common": {name: getattr(first, name) for name in _COMMON},
            "events": [[d.event, d.item_key, dict(d.details)] for d in drafts],
        }
        with self.state.write() as conn:
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    run_id=run_id,
                    policy=policy,
                    phase=phase,
                    status=PENDING,
                    created_at=self.state.now(),
                    payload=payload,
                )
            )

    def commit(self, batch_id: str, drafts: Sequence[EventDraft]) -> tuple[int, str]:
        """The store committed: append the batch's events (``drafts``) to the ledger."""
        with self.state.write() as conn:
            head = self.ledger.append(conn, drafts)
            self._set(conn, batch_id, COMMITTED)
        return head

    def abort(self, batch_id: str) -> None:
        """The store rolled back: the intent's events never happened."""
        with self.state.write() as conn:
            self._set(conn, batch_id, ABORTED)

    def pending(self) -> list[dict[str, Any]]:
        """Intents a crashed run left unsettled."""
        with self.state.read() as conn:
            rows = conn.execute(
                select(batches).where(batches.c.status == PENDING).order_by(batches.c.created_at)
            ).mappings()
            return [dict(row) for row in rows]

    def settle(self, batch_id: str, applied: set[str], note: str) -> int:
        """Append the events of the keys whose effect is visible; returns how many."""
        with self.state.write() as conn:
            payload = self._payload(conn, batch_id)
            # Events of the action itself only for items whose effect is visible; the other
            # events of the batch (holds seen) only if the batch committed at all.
            common = payload["common"]
            drafts = [
                EventDraft(
                    **common, event=event, item_key=key, details={**details, "recovered": note}
                )
                for event, key, details in payload["events"]
                if (key in applied if event == payload["action_event"] else bool(applied))
            ]
            self.ledger.append(conn, drafts)
            self._set(conn, batch_id, COMMITTED if applied else ABORTED)
        return len(drafts)

    @staticmethod
    def _payload(conn: Connection, batch_id: str) -> dict[str, Any]:
        query = select(batches.c.payload).where(batches.c.id == batch_id)
        return dict(conn.execute(query).scalar_one())

    @staticmethod
    def _set(conn: Connection, batch_id: str, status: str) -> None:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(status=status))
