"""The hash-chained audit ledger.

Each event's hash covers the previous event's hash and the event's own canonical JSON, so
editing, removing or inserting any record breaks the chain from that point on; the chain head
(``lethe_chain``) and the head copied into every run record catch removal of the newest
events. Events carry keys and counts only, never row contents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from lethe.errors import AuditIntegrityError
from lethe.state.db import StateDB
from lethe.state.schema import chain, events

__all__ = ["GENESIS", "EventDraft", "Ledger", "VerifyReport"]

GENESIS = "0" * 64
LEDGER_VERSION = 1


@dataclass(frozen=True)
class EventDraft:
    """An event before it is sequenced and hashed."""

    run_id: str
    event: str
    policy: str | None = None
    dataset: str | None = None
    phase: int | None = None
    item_key: str | None = None
    batch_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`Ledger.verify`."""

    events: int
    head: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


_FIELDS = ("run_id", "batch_id", "policy", "dataset", "phase", "event", "item_key")


def _canonical(seq: int, ts: str, fields: Mapping[Any, Any], details_json: str) -> str:
    """The exact text an event's hash covers: its fields in a fixed order, then its details
    as stored (so verifying hashes the stored bytes, not a re-serialisation)."""
    head = [LEDGER_VERSION, seq, ts, *(fields[name] for name in _FIELDS)]
    return _ENCODER.encode(head) + "\n" + details_json


def _hash(prev: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


# Built once: json.dumps() with non-default options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _details_json(details: Mapping[str, Any]) -> str:
    return _ENCODER.encode(details)


_COLUMNS = ("seq", "ts", *_FIELDS, "details", "prev_hash", "hash")


def _insert_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert events with the driver's executemany: the ledger is on every batch's path, and
    per-row parameter processing in the ORM-free Core insert is most of its cost."""
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if mark is None:
        conn.execute(events.insert(), rows)
        return
    columns = ", ".join(_COLUMNS)
    marks = ", ".join([mark] * len(_COLUMNS))
    conn.exec_driver_sql(
        f"INSERT INTO {events.name} ({columns}) VALUES ({marks})",
        [tuple(row[c] for c in _COLUMNS) for row in rows],
    )


#: Events of actions an item undergoes once: a second one means one deletion audited twice.
DESTRUCTIVE = ("hard_deleted", "soft_deleted", "redacted", "orphan_deleted")


def _duplicates(conn: Connection) -> list[str]:
    """One line per item with two or more events of one destructive action, naming the runs.

    The chain can verify and still claim a deletion twice (a crashed batch settled after a
    later run had already deleted and audited its items). A key the application reused for a
    new item after lethe deleted the old one shows here too: the runs named tell them apart.
    """
    repeated = (
        select(events.c.dataset, events.c.item_key, events.c.event)
        .where(events.c.event.in_(DESTRUCTIVE))
        .group_by(events.c.dataset, events.c.item_key, events.c.event)
        .having(func.count() > 1)
        .limit(50)
    )
    lines = []
    for dataset, key, event in conn.execute(repeated).all():
        run_ids = conn.execute(
            select(events.c.run_id)
            .where(events.c.dataset == dataset, events.c.item_key == key, events.c.event == event)
            .order_by(events.c.seq)
        ).scalars()
        lines.append(
            f"dataset {dataset} item {key}: {event} recorded more than once "
            f"(runs {', '.join(run_ids)}): one {event} audited twice"
        )
    return lines


class Ledger:
    """Appends to and verifies the chain in a :class:`StateDB`."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def append(self, conn: Connection, drafts: Sequence[EventDraft]) -> tuple[int, str]:
        """Append ``drafts`` inside the caller's write transaction; returns the new head."""
        # Touch the head row first: on PostgreSQL that takes its row lock, on SQLite the write
        # transaction already holds the database lock, so concurrent appenders serialise here.
        conn.execute(update(chain).where(chain.c.id == 1).values(seq=chain.c.seq))
        head = conn.execute(select(chain.c.seq, chain.c.hash).where(chain.c.id == 1)).one()
        seq, prev = int(head.seq), str(head.hash)
        if not drafts:
            return seq, prev
        ts = self.state.now().isoformat()
        rows = []
        for draft in drafts:
            seq += 1
            fields = {name: getattr(draft, name) for name in _FIELDS}
            details = _details_json(draft.details)
            digest = _hash(prev, _canonical(seq, ts, fields, details))
            rows.append(
                {
                    **fields,
                    "seq": seq,
                    "ts": ts,
                    "details": details,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        _insert_many(conn, rows)
        conn.execute(update(chain).where(chain.c.id == 1).values(seq=seq, hash=prev))
        return seq, prev

    def head(self) -> tuple[int, str]:
        """The newest sequence number and hash."""
        with self.state.read() as conn:
            row = conn.execute(select(chain.c.seq, chain.c.hash).where(chain.c.id == 1)).one()
        return int(row.seq), str(row.hash)

    def iter_events(
        self, *, dataset: str | None = None, item_key: str | None = None, run_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stored events in sequence order, optionally for one item or one run."""
        query = select(events).order_by(events.c.seq)
        if dataset is not None:
            query = query.where(events.c.dataset == dataset)
        if item_key is not None:
            query = query.where(events.c.item_key == item_key)
        if run_id is not None:
            query = query.where(events.c.run_id == run_id)
        with self.state.read() as conn:
            for row in conn.execute(query.execution_options(yield_per=5000)).mappings():
                yield {
                    "seq": row["seq"],
                    "ts": row["ts"],
                    **{name: row[name] for name in _FIELDS},
                    "details": json.loads(row["details"]),
                    "hash": row["hash"],
                }

    def skipped_holds(
        self, dataset: str, policy: str, phase: int, keys: Sequence[str]
    ) -> set[tuple[str, str]]:
        """``(item key, hold)`` pairs that already have a ``skipped_hold`` event for this
        phase: a hold skip is recorded once per hold, item and phase, not on every run."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 500):  # bounded IN lists on every backend
            query = select(events.c.item_key, events.c.details).where(
                events.c.dataset == dataset,
                events.c.item_key.in_(keys[start : start + 500]),
                events.c.event == "skipped_hold",
                events.c.policy == policy,
                events.c.phase == phase,
            )
            with self.state.read() as conn:
                for key, details in conn.execute(query):
                    found.add((str(key), str(json.loads(details).get("hold", ""))))
        return found

    def verify(self) -> VerifyReport:
        """Recompute every hash; report each break (an empty list means the chain verifies),
        and each item with two events of one destructive action."""
        problems: list[str] = []
        prev, expected_seq, count = GENESIS, 1, 0
        with self.state.read() as conn:
            rows = conn.execute(
                select(events).order_by(events.c.seq).execution_options(yield_per=5000)
            ).mappings()
            for row in rows:
                count += 1
                seq = int(row["seq"])
                if seq != expected_seq:
                    problems.append(f"event {expected_seq} is missing (next stored is {seq})")
                if row["prev_hash"] != prev:
                    problems.append(f"event {seq} does not follow the event before it")
                canonical = _canonical(seq, row["ts"], row, row["details"])
                recomputed = _hash(row["prev_hash"], canonical)
                if recomputed != row["hash"]:
                    problems.append(f"event {seq} was altered (hash mismatch)")
                prev, expected_seq = str(row["hash"]), seq + 1
            head = conn.execute(select(chain.c.seq, chain.c.hash).where(chain.c.id == 1)).one()
            duplicates = _duplicates(conn)
        if int(head.seq) != expected_seq - 1 or head.hash != prev:
            problems.append(
                f"chain head says event {head.seq} is the newest, but the ledger ends at "
                f"{expected_seq - 1}: events were removed or the head was edited"
            )
        problems.extend(duplicates)
        return VerifyReport(events=count, head=prev, problems=tuple(problems[:50]))

    def verify_or_raise(self) -> VerifyReport:
        """:meth:`verify`, raising :class:`AuditIntegrityError` on the first problem."""
        report = self.verify()
        if not report.ok:
            raise AuditIntegrityError(report.problems[0])
        return report
