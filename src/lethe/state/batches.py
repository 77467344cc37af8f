"""Batch intents: what a batch is about to commit in the application store.

The executor records an intent (keys, the events to append) before committing the store
transaction, and settles it after: ``committed`` with its events appended to the ledger, or
``aborted``. A committed batch's events are appended by a thread of their own while the run's
next batch waits for its store to act (:meth:`BatchLog.overlap`; its ``prepare``, and
:meth:`BatchLog.flush` at the end of a phase and of the run, wait for them), so the ledger's
work is off the batches' critical path; until then its intent stays ``pending``, and a crash in
between is settled like any other. An
intent left ``pending`` by a run that died is settled by a later run, once its run is no longer
``running`` or its lease expired (:mod:`lethe.engine.recovery`), by asking the action whether
its effect is visible (:meth:`lethe.actions.Action.applied`).

Two fences keep one item from being audited twice. An intent is only recorded while its run is
still ``running`` within its lease, so a run taken for dead cannot start another batch. And an
item whose effect shows is claimed by a settlement only if no later batch audited the same
action on it: the dead run's transaction may have rolled back and a later run deleted the item
(the intent remembers the ledger's head when it was recorded, so "later" is exact).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import secrets as pysecrets
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from lethe.errors import AuditIntegrityError, LeaseLostError
from lethe.model.results import RunStatus
from lethe.state import digest
from lethe.state.db import StateDB, as_utc
from lethe.state.files import record_files
from lethe.state.ledger import BatchEvents, EventDraft, Ledger
from lethe.state.schema import batches, chain, events, runs
from lethe.stores.files import FileRef

__all__ = ["BatchLog", "new_id", "process_identity"]

PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"
#: The version of the intent payload this lethe writes (``payload["v"]``; absent means 1).
#: Version 1 lists every event with its details (``events``); version 2 carries the keys
#: and the action's details once per run of equal ones (:func:`_compact`). Both are settled.
PAYLOAD_VERSION = 2
_READS = (1, 2)
_COMMON = ("run_id", "policy", "dataset", "phase", "batch_id")


def new_id(prefix: str) -> str:
    """A sortable, readable id: ``<prefix>-20241026T020000Z-3fa9c1``."""
    return f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{pysecrets.token_hex(3)}"


def process_identity() -> dict[str, Any]:
    """Who is running, for people reading the records. Never used to judge liveness: a pid
    means nothing on another host or in another PID namespace, and a zombie still has one."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


class BatchLog:
    """Intent records in the state database."""

    def __init__(self, state: StateDB, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger
        # Per run: the append of the batch the store committed last, if not yet joined.
        self._appending: dict[str, _Append] = {}
        self._runs: dict[str, str] = {}  # batch id -> run id, from prepare to commit
        self._lock = threading.Lock()
        self._appender = _Appender()
        # An in-memory SQLite database is one connection's own: another thread would see
        # another, empty database, so its appends stay on the caller's thread.
        self._background = not isinstance(state.engine.pool, SingletonThreadPool | StaticPool)

    def prepare(
        self,
        batch_id: str,
        run_id: str,
        policy: str,
        phase: int,
        keys: Sequence[str],
        action_event: str,
        drafts: Sequence[EventDraft],
        files: Sequence[FileRef] = (),
    ) -> None:
        """Record the intent; must succeed before the store transaction may commit.

        ``files`` (those the batch's rows named) go to the file retry ledger in the same
        transaction, to be deleted once the batch is settled committed.

        The run's previous batch's append (:meth:`commit`) is waited for first, so that the
        intent knows the ledger's head after it; should it have failed, that is raised here
        and the store transaction rolls back. Refused (:class:`LeaseLostError`) when the run
        is no longer ``running`` or its lease expired: another process may already be settling
        it, so its store transaction must roll back.
        """
        # Every event of a batch shares its run, policy, dataset, phase and batch: store those
        # once and, per event, only what differs.
        first = drafts[0]
        self._wait(run_id)
        with self.state.write() as conn:
            refused = self._refusal(conn, run_id)
            after_seq = self._append_committed(conn, None)
            if refused is None:
                payload = {
                    "v": PAYLOAD_VERSION,
                    "keys": list(keys),
                    "action_event": action_event,
                    "process": process_identity(),
                    "after_seq": after_seq,
                    "common": {name: getattr(first, name) for name in _COMMON},
                    **_compact(keys, action_event, drafts),
                }
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
                record_files(conn, batch_id, {n: getattr(first, n) for n in _COMMON}, files)
        if refused is not None:
            raise LeaseLostError(refused)
        with self._lock:
            self._runs[batch_id] = run_id

    def record(
        self,
        conn: Connection,
        batch_id: str,
        run_id: str,
        policy: str,
        phase: int,
        drafts: Sequence[EventDraft],
        files: Sequence[FileRef] = (),
    ) -> None:
        """Append a batch's events inside the store's own transaction ``conn`` (lethe's state
        in the same database, :class:`~lethe.stores.base.SharesTransaction`): no intent, since
        the store's commit keeps the deletion and its audit together or loses both.

        The lease fence holds in that transaction (:class:`LeaseLostError`: the caller's
        transaction must roll back). ``files`` go to the retry ledger under a batch row
        recorded ``committed`` in the same transaction, due once it commits.
        """
        refused = self._refusal(conn, run_id)
        if refused is not None:
            raise LeaseLostError(refused)
        # A batch of this run committed through an intent (a partition dropped before) is
        # in the ledger first; should its append have failed, its intent stays pending and is
        # settled like any other, and this transaction rolls back.
        self._wait(run_id)
        self.ledger.append(conn, drafts)
        if files:
            first = drafts[0]
            common = {name: getattr(first, name) for name in _COMMON}
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    run_id=run_id,
                    policy=policy,
                    phase=phase,
                    status=COMMITTED,
                    created_at=self.state.now(),
                    payload={"v": PAYLOAD_VERSION, "in_transaction": True, "common": common},
                )
            )
            record_files(conn, batch_id, common, files)

    def _refusal(self, conn: Connection, run_id: str) -> str | None:
        """Why ``run_id`` may not start a batch (no longer running, lease expired), if so."""
        row = conn.execute(
            select(runs.c.status, runs.c.lease_expires_at)
            .where(runs.c.id == run_id)
            .with_for_update()  # the reaper's UPDATE waits for this transaction, or wins first
        ).first()
        lease = as_utc(row[1]) if row is not None else None
        if row is None or row[0] != RunStatus.RUNNING.value:
            return f"run {run_id} is no longer running; its batch was rolled back"
        if lease is not None and lease < self.state.now():
            return f"run {run_id}'s lease expired; its batch was rolled back"
        return None

    def commit(self, batch_id: str, drafts: Sequence[EventDraft]) -> None:
        """The store committed: the batch's events (``drafts``) go to the ledger in a state
        transaction of their own, on a thread of their own once the run's next batch waits for
        its store (:meth:`overlap`); that batch's :meth:`prepare`, and :meth:`flush`, wait for
        them."""
        with self._lock:
            run_id = self._runs.pop(batch_id, None)
        committed = (batch_id, _kept(drafts))
        if run_id is None or not self._background:  # not prepared here, or memory-only state
            if run_id is not None:
                self._wait(run_id)
            self._append_alone(committed)
            return
        self._wait(run_id)  # prepare waited already: only a batch without one gets here
        with self._lock:
            self._appending[run_id] = _Append(self, committed)

    def overlap(self, run_id: str) -> None:
        """Start ``run_id``'s committed batch's append, if one waits: its caller is about to
        wait for its store to act on the next batch.

        Not started at the commit itself: the append is mostly Python (events, hashes), and
        Python runs one thread at a time. Started then, it held the interpreter through the
        next batch's checkout, lock and bookkeeping, and each of their round trips waited up
        to a switch interval (5 ms) for it to let go; started here, it runs while the main
        thread waits on the store's statement.
        """
        with self._lock:
            append = self._appending.get(run_id)
            if append is not None and not append.queued:
                self._appender.submit(append)

    def flush(self, run_id: str | None = None) -> None:
        """Wait until the events of the batches committed in the store are in the ledger
        (``run_id``'s, or every run's); the end of each phase and of each run calls it.
        An append that failed is raised here (after every other one finished)."""
        with self._lock:
            runs_ = [run_id] if run_id is not None else list(self._appending)
        failure: BaseException | None = None
        for run in runs_:
            try:
                self._wait(run)
            except BaseException as exc:  # raised below, once all are joined
                failure = failure or exc
        if failure is not None:
            raise failure

    def _wait(self, run_id: str) -> None:
        """Join ``run_id``'s append in flight, if any; raise what it failed with."""
        with self._lock:
            append = self._appending.pop(run_id, None)
        if append is not None:
            if not append.queued:  # never overlapped with a store's work: run it here
                append.run()
            append.done.wait()
            if append.error is not None:
                raise append.error

    def _append_alone(self, committed: tuple[str, Sequence[EventDraft]]) -> None:
        with self.state.write() as conn:
            self._append_committed(conn, committed)

    def _append_committed(
        self, conn: Connection, committed: tuple[str, Sequence[EventDraft]] | None
    ) -> int:
        """Append a committed batch's events and mark its intent; returns the head's seq.

        Should another process have settled the intent meanwhile (this run was taken for dead),
        only the events it did not append are added: the deletions happened, once each.
        """
        if committed is None:
            return int(conn.execute(select(chain.c.seq).where(chain.c.id == 1)).scalar_one())
        batch_id, drafts = committed
        status = conn.execute(
            select(batches.c.status).where(batches.c.id == batch_id).with_for_update()
        ).scalar_one()
        if status == COMMITTED:
            query = select(events.c.event, events.c.item_key).where(events.c.batch_id == batch_id)
            done = {(str(event), key) for event, key in conn.execute(query)}
            drafts = [d for d in drafts if (d.event, d.item_key) not in done]
        seq, _ = self.ledger.append(conn, drafts)
        self._set(conn, batch_id, COMMITTED)
        return seq

    def abort(self, batch_id: str) -> None:
        """The store rolled back: the intent's events never happened."""
        with self._lock:
            self._runs.pop(batch_id, None)
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
        """Append the events of the keys whose effect is visible and that no later batch
        audited with the same action; returns how many events were appended."""
        with self._lock:
            self._runs.pop(batch_id, None)  # settled here: no commit() follows
        with self.state.write() as conn:
            payload = self._payload(conn, batch_id)
            action = payload["action_event"]
            dataset = payload["common"]["dataset"]
            claimed = applied - _audited_since(
                conn, dataset, action, sorted(applied), payload.get("after_seq", 0)
            )
            # Events of the action itself only for items claimed; the other events of the
            # batch (holds seen) only if the batch committed at all.
            common = payload["common"]
            drafts = [
                EventDraft(
                    **common, event=event, item_key=key, details={**details, "recovered": note}
                )
                for event, key, details in _events(payload)
                if (key in claimed if event == action else bool(claimed))
            ]
            self.ledger.append(conn, drafts)
            self._set(conn, batch_id, COMMITTED if claimed else ABORTED)
        return len(drafts)

    @staticmethod
    def _payload(conn: Connection, batch_id: str) -> dict[str, Any]:
        query = select(batches.c.payload).where(batches.c.id == batch_id)
        payload = dict(conn.execute(query).scalar_one())
        if payload.get("v", 1) not in _READS:
            raise AuditIntegrityError(
                f"batch {batch_id}'s intent is in format {payload['v']}, which this lethe "
                "cannot read: settle it with the lethe that wrote it"
            )
        return payload

    @staticmethod
    def _set(conn: Connection, batch_id: str, status: str) -> None:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(status=status))


class _Append:
    """A committed batch's events on their way to the ledger: run by the log's appender
    thread once :meth:`BatchLog.overlap` queued it, else by whoever waits for it."""

    def __init__(self, log: BatchLog, committed: tuple[str, Sequence[EventDraft]]) -> None:
        self.log = log
        self.committed = committed
        self.error: BaseException | None = None
        self.queued = False
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.log._append_alone(self.committed)
        except BaseException as exc:  # raised by whoever waits for it
            self.error = exc
        finally:
            self.done.set()


class _Appender:
    """The thread that runs a log's queued appends. It only waits on the state database most
    of the time, so the store's next statement runs meanwhile.

    One thread for all of them rather than one per append: starting a thread makes its
    starter wait for it to run, and then for the interpreter while the new thread holds it
    (up to a switch interval, 5 ms, per batch). It ends after :data:`IDLE` seconds with
    nothing to do, so a process that embeds lethe keeps no thread between runs.
    """

    IDLE = 1.0
    _count = itertools.count(1)

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.SimpleQueue[_Append] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, append: _Append) -> None:
        if self._pid != os.getpid():
            # A process forked from one that ran lethe (a prefork server): the thread, and a
            # lock it may have held, stayed in the parent.
            self._reset()
        with self._lock:
            append.queued = True
            self._queue.put(append)
            if self._thread is None:
                name = f"lethe-ledger-{next(self._count)}"
                self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                append = self._queue.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:  # submit() starts another thread only once this one is gone
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            append.run()


def _kept(drafts: Sequence[EventDraft]) -> Sequence[EventDraft]:
    """``drafts`` held until they are appended: a :class:`BatchEvents` as it is."""
    return drafts if isinstance(drafts, BatchEvents) else list(drafts)


def _compact(
    keys: Sequence[str], action_event: str, drafts: Sequence[EventDraft]
) -> dict[str, Any]:
    """What a version 2 intent carries of its events: their keys once, in ``keys``.

    The action's events, one per key in order, give only their details, once per run of
    equal ones (``details``: ``[count, text]`` pairs, the text as the ledger stores it); the
    batch's other events (skips) are listed whole in ``others``. Should the action's events
    not be exactly ``keys`` in order, every event is in ``others``.
    """
    batch = drafts if isinstance(drafts, BatchEvents) else None
    if batch is not None:
        rows, texts = batch.rows, batch.details_texts()
    else:
        rows = [(d.event, d.item_key, d.details) for d in drafts]
        texts = digest.details_texts([d.details for d in drafts])
    count = len(keys)
    head = rows[:count]
    if [k for e, k, _ in head if e == action_event] != list(keys):
        count = 0
    runs: list[list[Any]] = []
    for text in texts[:count]:
        if runs and runs[-1][1] == text:
            runs[-1][0] += 1
        else:
            runs.append([1, text])
    others = [[e, k, text] for (e, k, _), text in zip(rows[count:], texts[count:], strict=True)]
    return {"details": runs if count else None, "others": others}


def _events(payload: Mapping[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """The events an intent recorded (``[kind, key, details]``), in batch order."""
    if payload.get("v", 1) == 1:
        for event, key, details in payload["events"]:
            yield event, key, dict(details)
        return
    if payload["details"] is not None:
        keys = iter(payload["keys"])
        for count, text in payload["details"]:
            details = json.loads(text)
            for key in islice(keys, count):
                yield payload["action_event"], key, dict(details)
    for event, key, text in payload["others"]:
        yield event, key, json.loads(text)


def _audited_since(
    conn: Connection, dataset: str, event: str, keys: Sequence[str], after_seq: int
) -> set[str]:
    """Which of ``keys`` have an ``event`` of ``dataset`` in the ledger after ``after_seq``."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(
            conn.execute(
                select(events.c.item_key).where(
                    events.c.dataset == dataset,
                    events.c.item_key.in_(keys[start : start + 500]),
                    events.c.event == event,
                    events.c.seq > after_seq,
                )
            ).scalars()
        )
    return found
