"""The delivery ledger: which deletion warnings reached their server, exactly once.

One row per (policy, item, milestone), unique. A sender first *claims* the rows of a message
(an insert that loses quietly to any existing row), sends, then marks them ``delivered`` in
the same transaction that appends the ``warned`` audit events. So two replicas never both
send a milestone, and a retry never resends one that was accepted.

The one window no protocol can close lies between the server's acceptance and that commit
(milliseconds). A claim left ``sending`` by a run that is no longer alive — not ``running``, or
past its lease (the run's heartbeat, :mod:`lethe.engine.lease`; never a pid, which another
host or PID namespace reuses) — counts as *unknown*, and so does a row marked ``unknown``
because the connection dropped after the message was handed over. An unknown row is never sent
again by the run that sent it; a later run sends it once more under the Message-ID (and a
webhook's Idempotency-Key) the row recorded, which mail systems and webhook receivers use to
drop it. A run whose claims were taken over records nothing more for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lethe.model.results import RunStatus
from lethe.state.batches import process_identity
from lethe.state.db import StateDB, as_utc
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import deliveries, runs

__all__ = ["Claim", "Delivery", "DeliveryLedger"]

SENDING, DELIVERED, FAILED, UNKNOWN = "sending", "delivered", "failed", "unknown"


@dataclass(frozen=True)
class Delivery:
    """One row of the ledger."""

    policy: str
    dataset: str
    item_key: str
    milestone: str
    status: str
    run_id: str
    message_id: str
    attempts: int
    claimed_at: datetime
    delivered_at: datetime | None
    error: str | None
    stale: bool = False

    @property
    def delivered(self) -> bool:
        return self.status == DELIVERED

    @property
    def in_flight(self) -> bool:
        """Claimed by a live sender right now: leave it alone."""
        return self.status == SENDING and not self.stale

    @property
    def outcome_unknown(self) -> bool:
        """Handed to the server without its answer recorded: it may have been delivered."""
        return self.status == UNKNOWN or self.stale


@dataclass(frozen=True)
class Claim:
    """What a sender won: the (item, milestone) pairs it alone may now send."""

    entries: tuple[tuple[str, str], ...]
    #: Pairs taken over from an abandoned claim: their first attempt's outcome is unknown.
    resumed: tuple[tuple[str, str], ...] = ()
    #: The Message-ID each resumed pair was last sent under (a copy must carry it again).
    previous: Mapping[tuple[str, str], str] = field(default_factory=dict)


def _alive(conn: Connection, run_ids: Iterable[str], now: datetime) -> set[str]:
    """Which of ``run_ids`` are alive: ``running`` and within their lease."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return set()
    query = select(runs.c.id).where(
        runs.c.id.in_(wanted),
        runs.c.status == RunStatus.RUNNING.value,
        runs.c.lease_expires_at >= now,
    )
    return {str(run_id) for run_id in conn.execute(query).scalars()}


def _rows(conn: Connection, found: Sequence[Any], now: datetime) -> list[Delivery]:
    alive = _alive(conn, (r.run_id for r in found if r.status == SENDING), now)
    return [_row(r, now, alive) for r in found]


def _row(row: Any, now: datetime, alive: set[str]) -> Delivery:
    claimed = as_utc(row.claimed_at) or now
    stale = row.status == SENDING and row.run_id not in alive
    return Delivery(
        policy=row.policy,
        dataset=row.dataset,
        item_key=row.item_key,
        milestone=row.milestone,
        status=row.status,
        run_id=row.run_id,
        message_id=row.message_id,
        attempts=int(row.attempts),
        claimed_at=claimed,
        delivered_at=as_utc(row.delivered_at),
        error=row.error,
        stale=stale,
    )


class DeliveryLedger:
    """The ``lethe_deliveries`` table of a :class:`StateDB`."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def lookup(self, policy: str, keys: Sequence[str]) -> dict[str, dict[str, Delivery]]:
        """``{item key: {milestone: row}}`` for the given items of one policy."""
        found: dict[str, dict[str, Delivery]] = {}
        now = self.state.now()
        with self.state.read() as conn:
            for start in range(0, len(keys), 1000):
                chunk = list(keys[start : start + 1000])
                query = select(deliveries).where(
                    deliveries.c.policy == policy, deliveries.c.item_key.in_(chunk)
                )
                for row in _rows(conn, conn.execute(query).all(), now):
                    found.setdefault(row.item_key, {})[row.milestone] = row
        return found

    def for_item(self, dataset: str, key: str) -> list[Delivery]:
        """Every row of one item, oldest claim first (for ``lethe explain``)."""
        now = self.state.now()
        query = (
            select(deliveries)
            .where(deliveries.c.dataset == dataset, deliveries.c.item_key == key)
            .order_by(deliveries.c.claimed_at, deliveries.c.id)
        )
        with self.state.read() as conn:
            return _rows(conn, conn.execute(query).all(), now)

    def claim(
        self,
        *,
        policy: str,
        dataset: str,
        run_id: str,
        entries: Iterable[tuple[str, str]],
        recipient_sha256: str,
        message_id: str,
    ) -> Claim:
        """Claim ``(item, milestone)`` pairs for one message; returns those this caller won.

        A pair is won when it has no row yet (a unique insert), or when its row ``failed``,
        was abandoned or its outcome is unknown from an earlier run (a conditional update); a
        pair delivered, in flight elsewhere or of unknown outcome in this very run is never
        won. Committed before the message is sent, so other replicas see it.
        """
        now = self.state.now()
        won: list[tuple[str, str]] = []
        resumed: list[tuple[str, str]] = []
        previous: dict[tuple[str, str], str] = {}
        fresh = {
            "policy": policy,
            "dataset": dataset,
            "status": SENDING,
            "run_id": run_id,
            "recipient_sha256": recipient_sha256,
            "message_id": message_id,
            "attempts": 1,
            "claimed_at": now,
            "claimed_by": process_identity(),
        }
        with self.state.write() as conn:
            # One order for every replica, so two claiming the same rows wait, never deadlock.
            for key, milestone in sorted(entries):
                row = {**fresh, "item_key": key, "milestone": milestone}
                if _insert_if_absent(conn, row):
                    won.append((key, milestone))
                    continue
                taken = _take_over(conn, policy, key, milestone, fresh, now)
                if taken is not None:
                    won.append((key, milestone))
                    if taken.outcome_unknown:
                        resumed.append((key, milestone))
                        previous[(key, milestone)] = taken.message_id
        return Claim(tuple(won), tuple(resumed), previous)

    def delivered(
        self,
        policy: str,
        run_id: str,
        entries: Sequence[tuple[str, str]],
        message_id: str,
        events: Sequence[EventDraft],
    ) -> None:
        """The server accepted the message: mark its pairs and append their audit events.

        Stamped with the real time (the state database's clock), never the run's ``as_of``:
        a back-dated run must not make a notice look older than it is. Only pairs this run
        still holds are marked and audited: one taken over by another run (this one was
        taken for dead) is that run's to record.
        """
        at = self.state.now()
        with self.state.write() as conn:
            held = {
                (str(key), str(milestone))
                for key, milestone in conn.execute(
                    select(deliveries.c.item_key, deliveries.c.milestone)
                    .where(_mine(policy, run_id, entries))
                    .with_for_update()
                )
            }
            conn.execute(
                update(deliveries)
                .where(_mine(policy, run_id, entries))
                .values(status=DELIVERED, delivered_at=at, message_id=message_id, error=None)
            )
            mine = [e for e in events if (e.item_key, e.details.get("milestone")) in held]
            Ledger(self.state).append(conn, mine)

    def failed(
        self, policy: str, run_id: str, entries: Sequence[tuple[str, str]], error: str
    ) -> None:
        """The message was not accepted: its pairs may be claimed again by a later run."""
        with self.state.write() as conn:
            conn.execute(
                update(deliveries)
                .where(_mine(policy, run_id, entries))
                .values(status=FAILED, error=error[:500])
            )

    def unknown(
        self,
        policy: str,
        run_id: str,
        entries: Sequence[tuple[str, str]],
        error: str,
        message_id: str,
    ) -> None:
        """The message was handed over but not answered: flag its pairs ``unknown`` (a later
        run resends them under ``message_id``; this one never does)."""
        with self.state.write() as conn:
            conn.execute(
                update(deliveries)
                .where(_mine(policy, run_id, entries))
                .values(status=UNKNOWN, error=error[:500], message_id=message_id)
            )

    def relabel(
        self, policy: str, run_id: str, entries: Sequence[tuple[str, str]], message_id: str
    ) -> None:
        """Record the Message-ID the claimed pairs are about to be sent under, when it is not
        the one claimed (a digest split or partly won): a crash mid-send must leave the real
        one behind for the copy."""
        with self.state.write() as conn:
            conn.execute(
                update(deliveries)
                .where(_mine(policy, run_id, entries))
                .values(message_id=message_id)
            )

    def delivered_at(self, policy: str, keys: Sequence[str], milestone: str) -> dict[str, datetime]:
        """When ``milestone`` was delivered, for the items that have it."""
        rows = self.lookup(policy, keys)
        return {
            key: row.delivered_at
            for key, by_milestone in rows.items()
            if (row := by_milestone.get(milestone)) is not None
            and row.delivered
            and row.delivered_at is not None
        }


def _mine(policy: str, run_id: str, entries: Sequence[tuple[str, str]]) -> Any:
    return and_(
        deliveries.c.policy == policy,
        deliveries.c.run_id == run_id,
        deliveries.c.status == SENDING,
        tuple_(deliveries.c.item_key, deliveries.c.milestone).in_(list(entries)),
    )


def _insert_if_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its (policy, item, milestone) exists; True when inserted."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(deliveries)
        statement = (
            insert.values(row)
            .on_conflict_do_nothing(index_elements=["policy", "item_key", "milestone"])
            .returning(deliveries.c.id)
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for a skipped insert.
        return conn.execute(statement).first() is not None
    try:  # other databases: the unique constraint decides, inside a savepoint
        with conn.begin_nested():
            conn.execute(deliveries.insert().values(row))
        return True
    except IntegrityError:
        return False


def _take_over(
    conn: Connection, policy: str, key: str, milestone: str, fresh: dict[str, Any], now: datetime
) -> Delivery | None:
    """Re-claim a failed, abandoned or unknown row; the row as it was, or None: not ours."""
    query = select(deliveries).where(
        deliveries.c.policy == policy,
        deliveries.c.item_key == key,
        deliveries.c.milestone == milestone,
    )
    current = conn.execute(query).one_or_none()
    if current is None:
        return None
    existing = _row(current, now, _alive(conn, [current.run_id], now))
    if existing.status == DELIVERED or existing.in_flight:
        return None
    if existing.status == UNKNOWN and existing.run_id == fresh["run_id"]:
        return None  # it may have arrived: never twice in the run that sent it
    # Conditional on what we just read, so a concurrent taker cannot win the same row.
    statement = (
        update(deliveries)
        .where(
            deliveries.c.id == current.id,
            deliveries.c.status == current.status,
            deliveries.c.run_id == current.run_id,
            deliveries.c.attempts == current.attempts,
        )
        .values(
            status=SENDING,
            run_id=fresh["run_id"],
            recipient_sha256=fresh["recipient_sha256"],
            # A copy of a message that may have arrived keeps its Message-ID.
            message_id=current.message_id if existing.outcome_unknown else fresh["message_id"],
            attempts=current.attempts + 1,
            claimed_at=now,
            claimed_by=fresh["claimed_by"],
            error=None,
        )
    )
    if conn.dialect.update_returning:
        won = conn.execute(statement.returning(deliveries.c.id)).first() is not None
    else:
        won = bool(conn.execute(statement).rowcount)
    return existing if won else None
