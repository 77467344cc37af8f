"""The hash-chained audit ledger.

Every append (a batch's events, a run's end, a hold change) is one **entry**: its events, one
row per item, and one entry row holding the Merkle root of their leaf hashes and the previous
entry's hash, so editing, removing or inserting any event or entry breaks the chain from that
point on (format 2, :mod:`lethe.state.digest`; events stored before it stay format 1, chained
event by event, and still verify). The chain head (``lethe_chain``) and the head copied into
every run record catch removal of the newest entries. Events carry keys and counts only,
never row contents. docs/ledger.md describes every field.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from lethe.errors import AuditIntegrityError
from lethe.state import digest
from lethe.state.db import StateDB
from lethe.state.digest import FIELDS, GENESIS
from lethe.state.schema import chain, entries, events, keys
from lethe.state.signatures import signature_problems
from lethe.state.verify import Walk

__all__ = ["GENESIS", "LEDGER_VERSION", "BatchEvents", "EventDraft", "Ledger", "VerifyReport"]

#: The format new events and entries are written in.
LEDGER_VERSION = 2


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


#: One event of a :class:`BatchEvents`: its kind, item key and details.
EventRow = tuple[str, str | None, Mapping[str, Any]]


class BatchEvents(Sequence[EventDraft]):
    """A batch's events as one object: the fields they all share (run, policy, dataset,
    phase, batch) once, and per event only its kind, item key and details.

    It is a sequence of :class:`EventDraft` for any code that reads drafts; the ledger and
    the batch intent read its rows instead, so a batch of a thousand items makes no draft
    per item, and its details are encoded once (:meth:`details_texts`) for both.
    """

    __slots__ = ("_texts", "batch_id", "dataset", "phase", "policy", "rows", "run_id")

    def __init__(
        self,
        run_id: str,
        policy: str | None,
        dataset: str | None,
        phase: int | None,
        batch_id: str | None,
        rows: Sequence[EventRow],
    ) -> None:
        self.run_id, self.policy, self.dataset = run_id, policy, dataset
        self.phase, self.batch_id = phase, batch_id
        self.rows = list(rows)
        self._texts: list[str] | None = None

    def with_rows(self, rows: Sequence[EventRow]) -> BatchEvents:
        """The same batch with other events."""
        return BatchEvents(self.run_id, self.policy, self.dataset, self.phase, self.batch_id, rows)

    def details_texts(self) -> list[str]:
        """Each event's details as the ledger stores them (:func:`digest.details_texts`),
        encoded on first use."""
        if self._texts is None:
            self._texts = digest.details_texts([details for _, _, details in self.rows])
        return self._texts

    def _draft(self, row: EventRow) -> EventDraft:
        event, key, details = row
        return EventDraft(
            self.run_id, event, self.policy, self.dataset, self.phase, key, self.batch_id, details
        )

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> EventDraft: ...
    @overload
    def __getitem__(self, index: slice) -> BatchEvents: ...
    def __getitem__(self, index: int | slice) -> EventDraft | BatchEvents:
        if isinstance(index, slice):
            return self.with_rows(self.rows[index])
        return self._draft(self.rows[index])

    def __iter__(self) -> Iterator[EventDraft]:
        return map(self._draft, self.rows)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`Ledger.verify`."""

    events: int
    head: str
    problems: tuple[str, ...]
    #: What was checked besides the chain (each anchor's verdict), for the report.
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


_COLUMNS = ("seq", "ts", *FIELDS, "details", "prev_hash", "hash", "v", "entry")


def _insert_many(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert events with the driver's executemany: the ledger is on every batch's path, and
    per-row parameter processing in the ORM-free Core insert is most of its cost. On
    PostgreSQL through psycopg, with ``COPY``."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, rows)
        return
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if mark is None:
        conn.execute(events.insert(), [dict(zip(_COLUMNS, row, strict=True)) for row in rows])
        return
    columns = ", ".join(_COLUMNS)
    marks = ", ".join([mark] * len(_COLUMNS))
    conn.exec_driver_sql(f"INSERT INTO {events.name} ({columns}) VALUES ({marks})", rows)


def _copy(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The events by ``COPY … FROM STDIN``, in ``conn``'s transaction: where lethe's state
    shares the application's PostgreSQL, a batch's events are inserted inside its deleting
    transaction, and ``COPY`` takes under half the time of an executemany (2,000 events:
    12 ms against 28 ms, docs/benchmarks.md)."""
    statement = f"COPY {events.name} ({', '.join(_COLUMNS)}) FROM STDIN"
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()  # psycopg's, which has copy()
    try:
        with cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Raised as SQLAlchemy raises what a statement it ran failed with, for the callers'
        # error translation.
        raise DBAPIError.instance(
            statement, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc


def _seal(
    drafts: Sequence[EventDraft], after: int, ts: str, entry: int, prev: str
) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """The rows of ``drafts`` as events ``after + 1`` on of ``entry``, and their leaves."""
    if isinstance(drafts, BatchEvents):
        return _seal_batch(drafts, after, ts, entry, prev)
    texts = digest.LeafTexts(ts)
    rows: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    seq, link = after, prev
    # The batch's details in one encoding, not one encoder call per event.
    encoded = digest.details_texts([d.details for d in drafts])
    for d, details in zip(drafts, encoded, strict=True):
        seq += 1
        fields = (d.run_id, d.batch_id, d.policy, d.dataset, d.phase, d.event, d.item_key)
        leaf = digest.leaf_hash(texts.text(seq, fields, details))
        hexed = leaf.hex()
        rows.append((seq, ts, *fields, details, link, hexed, LEDGER_VERSION, entry))
        leaves.append(leaf)
        link = hexed
    return rows, leaves


def _seal_batch(
    batch: BatchEvents, after: int, ts: str, entry: int, prev: str
) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """:func:`_seal` for a :class:`BatchEvents`: the same rows and leaves, the fields its
    events share written once."""
    texts = digest.LeafTexts(ts)
    shared = (batch.run_id, batch.batch_id, batch.policy, batch.dataset, batch.phase)
    rows: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    seq, link = after, prev
    for (event, key, _), details in zip(batch.rows, batch.details_texts(), strict=True):
        seq += 1
        leaf = digest.leaf_hash(texts.text(seq, (*shared, event, key), details))
        hexed = leaf.hex()
        rows.append((seq, ts, *shared, event, key, details, link, hexed, LEDGER_VERSION, entry))
        leaves.append(leaf)
        link = hexed
    return rows, leaves


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
        """Append ``drafts`` as one entry inside the caller's write transaction; returns the
        new head (the last event's sequence number, the entry's hash)."""
        # Touch the head row first: on PostgreSQL that takes its row lock, on SQLite the write
        # transaction already holds the database lock, so concurrent appenders serialise here.
        conn.execute(update(chain).where(chain.c.id == 1).values(seq=chain.c.seq))
        head = conn.execute(
            select(chain.c.seq, chain.c.hash, chain.c.entry).where(chain.c.id == 1)
        ).one()
        seq, prev, entry = int(head.seq), str(head.hash), int(head.entry) + 1
        if not drafts:
            return seq, prev
        ts = self.state.now().isoformat()
        rows, leaves = _seal(drafts, seq, ts, entry, prev)
        root = digest.merkle_root(leaves).hex()
        batch_ids = (
            {drafts.batch_id} if isinstance(drafts, BatchEvents) else {d.batch_id for d in drafts}
        )
        batch_id = batch_ids.pop() if len(batch_ids) == 1 else None
        count = len(drafts)
        sealed = digest.entry_hash(
            digest.entry_canonical(entry, seq + 1, count, ts, batch_id, root, prev)
        )
        _insert_many(conn, rows)
        signature, key = self._sign(conn, sealed, ts)
        conn.execute(
            entries.insert().values(
                signature=signature,
                key_id=key,
                seq=entry,
                v=LEDGER_VERSION,
                first_seq=seq + 1,
                count=count,
                ts=ts,
                batch_id=batch_id,
                root=root,
                prev_hash=prev,
                hash=sealed,
            )
        )
        conn.execute(
            update(chain).where(chain.c.id == 1).values(seq=seq + count, hash=sealed, entry=entry)
        )
        return seq + count, sealed

    def _sign(self, conn: Connection, sealed: str, ts: str) -> tuple[str | None, str | None]:
        """The signature of entry hash ``sealed`` and its key id, recording the key the first
        time it signs; ``(None, None)`` when no key is configured."""
        signer = self.state.signer
        if signer is None:
            return None, None
        known = conn.execute(select(keys.c.key_id).where(keys.c.key_id == signer.key_id)).first()
        if known is None:
            conn.execute(
                keys.insert().values(
                    key_id=signer.key_id, public_key=signer.public_key, first_seen=ts
                )
            )
        return signer.sign(sealed.encode("ascii")), signer.key_id

    def entry(self, seq: int) -> dict[str, Any] | None:
        """Entry number ``seq`` as a dict, or None when there is none.

        Keys: ``seq``, ``v``, ``first_seq`` and ``count`` (the events it seals), ``ts``,
        ``batch_id`` (None for a mixed or run-level entry), ``root`` (Merkle root of its events'
        leaves, hex), ``prev_hash``, ``hash`` (hex), ``signature`` (base64 Ed25519 signature of
        ``hash.encode("ascii")``, or None when unsigned) and ``key_id``. A run's end entry is
        the run's head.
        """
        with self.state.read() as conn:
            row = conn.execute(select(entries).where(entries.c.seq == seq)).mappings().first()
        return None if row is None else dict(row)

    def entry_for_event(self, seq: int) -> dict[str, Any] | None:
        """The entry (as :meth:`entry`) that seals event number ``seq``, or None (no such
        event, or a format 1 event, which no entry seals)."""
        with self.state.read() as conn:
            number = conn.execute(select(events.c.entry).where(events.c.seq == seq)).scalar()
        return None if number is None else self.entry(int(number))

    def head(self) -> tuple[int, str]:
        """The newest sequence number and hash."""
        with self.state.read() as conn:
            row = conn.execute(select(chain.c.seq, chain.c.hash).where(chain.c.id == 1)).one()
        return int(row.seq), str(row.hash)

    def iter_events(
        self,
        *,
        dataset: str | None = None,
        item_key: str | None = None,
        run_id: str | None = None,
        kinds: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored events in sequence order, optionally for one item, one run, some event
        kinds, appended at ``since`` or later and before ``until`` (ISO 8601 UTC text, as
        ``ts`` is stored: compared as text, which orders them), at most ``limit`` of them.
        Every filter is applied by the database; rows are fetched in slices.

        ``hash`` is the chain's head once the event was appended: the event's own hash in
        format 1, its entry's in format 2 (where ``leaf`` is the event's leaf hash).
        """
        query = (
            select(events, entries.c.hash.label("entry_hash"))
            .select_from(events.outerjoin(entries, events.c.entry == entries.c.seq))
            .order_by(events.c.seq)
        )
        if dataset is not None:
            query = query.where(events.c.dataset == dataset)
        if item_key is not None:
            query = query.where(events.c.item_key == item_key)
        if run_id is not None:
            query = query.where(events.c.run_id == run_id)
        if kinds:
            query = query.where(events.c.event.in_(list(kinds)))
        if since is not None:
            query = query.where(events.c.ts >= since)
        if until is not None:
            query = query.where(events.c.ts < until)
        if limit is not None:
            query = query.limit(limit)
        with self.state.read() as conn:
            for row in conn.execute(query.execution_options(yield_per=5000)).mappings():
                sealed = row["v"] >= 2
                yield {
                    "seq": row["seq"],
                    "ts": row["ts"],
                    **{name: row[name] for name in FIELDS},
                    "details": json.loads(row["details"]),
                    "hash": row["entry_hash"] if sealed else row["hash"],
                    "v": row["v"],
                    "entry": row["entry"],
                    "leaf": row["hash"] if sealed else None,
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

    def verify(self, trusted_keys: Collection[str] = ()) -> VerifyReport:
        """Recompute every hash; report each break (an empty list means the chain verifies),
        each item with two events of one destructive action, and each entry whose signature
        fails, is by a key not in ``trusted_keys`` (base64; default: the configured key, if
        any) or is missing after signing began."""
        if not trusted_keys and self.state.signer is not None:
            trusted_keys = (self.state.signer.public_key,)
        with self.state.read() as conn:
            # Two cursors on one transaction: events and the entries that seal them, read
            # side by side from one snapshot.
            sealing = conn.execute(
                select(entries).order_by(entries.c.seq).execution_options(yield_per=1000)
            ).mappings()
            rows = conn.execute(
                select(events).order_by(events.c.seq).execution_options(yield_per=5000)
            ).mappings()
            walk = Walk(iter(sealing))
            for row in rows:
                walk.event(row)
            head = conn.execute(select(chain).where(chain.c.id == 1)).mappings().one()
            walk.finish(head)
            duplicates = _duplicates(conn)
            signatures = signature_problems(conn, trusted_keys)
        problems = [*walk.problems, *signatures, *duplicates]
        return VerifyReport(events=walk.count, head=walk.chain, problems=tuple(problems[:50]))

    def verify_or_raise(self) -> VerifyReport:
        """:meth:`verify`, raising :class:`AuditIntegrityError` on the first problem."""
        report = self.verify()
        if not report.ok:
            raise AuditIntegrityError(report.problems[0])
        return report
