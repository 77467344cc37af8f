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
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from lethe.state.db import StateDB
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import batches

__all__ = ["BatchLog", "new_id", "process_identity", "process_is_dead"]

PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"


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


def _draft_document(draft: EventDraft) -> dict[str, Any]:
    return {
        "run_id": draft.run_id,
        "event": draft.event,
        "policy": draft.policy,
        "dataset": draft.dataset,
        "phase": draft.phase,
        "item_key": draft.item_key,
        "batch_id": draft.batch_id,
        "details": dict(draft.details),
    }


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
        payload = {
            "keys": list(keys),
            "action_event": action_event,
            "process": process_identity(),
            "events": [_draft_document(d) for d in drafts],
        }
        with self.state.write() as conn:
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    run_id=run_id,
                    policy=policy,
                    phase=phase,
                    status=PENDING,
                    created_at=datetime.now(UTC),
                    payload=payload,
                )
            )

    def commit(
        self, batch_id: str, extra: Sequence[EventDraft] = (), failed: Collection[str] = ()
    ) -> tuple[int, str]:
        """The store committed: append the intent's events (and ``extra``) to the ledger.

        Items in ``failed`` (key texts the store could not change) lose their action event.
        """
        with self.state.write() as conn:
            action_event = self._payload(conn, batch_id)["action_event"]
            drafts = [
                d
                for d in self._drafts(conn, batch_id)
                if not (d.event == action_event and d.item_key in failed)
            ]
            head = self.ledger.append(conn, [*drafts, *extra])
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
            drafts = [
                EventDraft(**{**event, "details": {**event["details"], "recovered": note}})
                for event in payload["events"]
                if (
                    event["item_key"] in applied
                    if event["event"] == payload["action_event"]
                    else bool(applied)
                )
            ]
            self.ledger.append(conn, drafts)
            self._set(conn, batch_id, COMMITTED if applied else ABORTED)
        return len(drafts)

    @staticmethod
    def _payload(conn: Connection, batch_id: str) -> dict[str, Any]:
        query = select(batches.c.payload).where(batches.c.id == batch_id)
        return dict(conn.execute(query).scalar_one())

    def _drafts(self, conn: Connection, batch_id: str) -> list[EventDraft]:
        return [EventDraft(**event) for event in self._payload(conn, batch_id)["events"]]

    @staticmethod
    def _set(conn: Connection, batch_id: str, status: str) -> None:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(status=status))
