"""The state side of anchoring: the ledger's run heads, and which of them each anchor holds.

A run's head is the entry its ``run_finished`` event is sealed in. Rows of ``lethe_anchors``
say per anchor and run whether publishing succeeded (``anchored``) or not yet (``failed``):
the heads without an ``anchored`` row of the same hash are what the next run publishes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, func, select, update

from lethe.evidence.anchors.base import Head
from lethe.state.db import StateDB, as_utc
from lethe.state.schema import anchors, entries, events

__all__ = ["ANCHORED", "FAILED", "AnchorLog", "AnchorRow"]

ANCHORED, FAILED = "anchored", "failed"


@dataclass(frozen=True)
class AnchorRow:
    """What the state database says about one head at one anchor."""

    run_id: str
    entry: int
    hash: str
    status: str
    attempts: int
    published_at: datetime | None
    receipt: str | None
    error: str | None


class AnchorLog:
    """Reads run heads from the ledger and records their publishing."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def heads(self, *, after: int = 0, runs: Collection[str] = ()) -> list[Head]:
        """Run heads in the ledger, oldest first: all of them, or those in entries after
        number ``after`` and those of ``runs``.

        ``after`` is turned into the first event sequence number it covers, so the scan is
        a range of the events' primary key, not the whole table on every run.
        """
        query = (
            select(
                events.c.run_id,
                entries.c.seq,
                entries.c.hash,
                entries.c.signature,
                entries.c.key_id,
                entries.c.ts,
            )
            .select_from(events.join(entries, events.c.entry == entries.c.seq))
            .where(events.c.event == "run_finished")
            .order_by(entries.c.seq)
        )
        found: dict[str, Head] = {}
        with self.state.read() as conn:
            if after:
                start = conn.execute(
                    select(func.min(entries.c.first_seq)).where(entries.c.seq > after)
                ).scalar()
                scans = [] if start is None else [query.where(events.c.seq >= start)]
                listed = sorted(runs)
                for at in range(0, len(listed), 500):  # bounded IN lists on every backend
                    scans.append(query.where(events.c.run_id.in_(listed[at : at + 500])))
            else:
                scans = [query]
            for scan in scans:
                for r in conn.execute(scan):
                    found[str(r[0])] = Head(str(r[0]), int(r[1]), str(r[2]), r[3], r[4], str(r[5]))
        return sorted(found.values(), key=lambda head: head.entry)

    def rows(self, anchor: str) -> dict[str, AnchorRow]:
        """Each run's row for ``anchor``, by run id."""
        with self.state.read() as conn:
            found = conn.execute(select(anchors).where(anchors.c.anchor == anchor)).mappings()
            return {str(r["run_id"]): _row(r) for r in found}

    def for_run(self, run_id: str) -> dict[str, AnchorRow]:
        """Each anchor's row for one run, by anchor name."""
        with self.state.read() as conn:
            found = conn.execute(select(anchors).where(anchors.c.run_id == run_id)).mappings()
            return {str(r["anchor"]): _row(r) for r in found}

    def pending(self, anchor: str) -> list[Head]:
        """The heads ``anchor`` does not hold yet, by the state database's account: those of
        runs it has no ``anchored`` row for. A head whose hash changed since it was anchored
        (the ledger rewritten) is not published again: verify reports it."""
        rows = self.rows(anchor)
        done = {run_id for run_id, row in rows.items() if row.status == ANCHORED}
        after = max((row.entry for row in rows.values() if row.status == ANCHORED), default=0)
        failed = [run_id for run_id, row in rows.items() if row.status != ANCHORED]
        return [h for h in self.heads(after=after, runs=failed) if h.run_id not in done]

    def record(
        self, anchor: str, head: Head, *, receipt: str | None = None, error: str | None = None
    ) -> None:
        """Record one publishing attempt: ``anchored`` with ``receipt``, or ``failed`` with
        ``error``."""
        now = self.state.now()
        status = FAILED if error is not None else ANCHORED
        values = {
            "entry": head.entry,
            "hash": head.hash,
            "status": status,
            "tried_at": now,
            "published_at": now if error is None else None,
            "receipt": receipt,
            "error": error,
        }
        with self.state.write() as conn:
            where = (anchors.c.anchor == anchor) & (anchors.c.run_id == head.run_id)
            changed = conn.execute(
                update(anchors).where(where).values(attempts=anchors.c.attempts + 1, **values)
            )
            if changed.rowcount == 0:
                conn.execute(
                    anchors.insert().values(anchor=anchor, run_id=head.run_id, attempts=1, **values)
                )


def _row(r: RowMapping) -> AnchorRow:
    return AnchorRow(
        str(r["run_id"]),
        int(r["entry"]),
        str(r["hash"]),
        str(r["status"]),
        int(r["attempts"]),
        as_utc(r["published_at"]),
        r["receipt"],
        r["error"],
    )
