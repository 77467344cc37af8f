"""Running a phase in short batches.

Each batch is one store transaction: lock up to ``batch_size`` parents (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, the write lock on SQLite), re-check due-ness (the lock query *is* the
selection) and holds inside it, act, record the batch's intent in the state database, commit,
then append the audit events. A kill at any moment leaves either the whole batch or none of
it; an intent left pending is settled by the next run (:mod:`lethe.engine.recovery`).

When lethe's state is the store's own database
(:class:`~lethe.stores.base.SharesTransaction`), the batch's events, ledger entry and chain
head are written in the store's transaction instead, with the lease checked there: one commit
for the deletion and its audit, no intent, nothing for a crash to leave half-done.

A batch the store refuses for its data (:class:`~lethe.errors.DataRefusedError`: a foreign key
the cascade does not cover, a trigger) is bisected into smaller batches until the refused items
stand alone (:mod:`lethe.engine.bisection`); those get a ``skipped_error`` event and are tried
again by the next run, and the others are acted on. A batch nobody refuses costs nothing extra.

Rows skipped because another transaction held their lock lie behind the keyset cursor, so a
phase ends with a final pass from the lowest key that waits for locks instead of skipping.

Before each batch the runner checks its :class:`~lethe.engine.stop.StopFlag` (SIGTERM, a job's
timeout, a lost lease): a stop raises :class:`~lethe.engine.stop.StopRequested` between batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lethe.engine.bisection import Refused, isolate
from lethe.engine.decisions import Partition, next_batch_size, partition
from lethe.engine.hooks import CommittedBatch, notify_batch
from lethe.engine.partition_drops import EVENT, PartitionDropper, partition_line
from lethe.engine.recovery import settle_batch
from lethe.engine.runtime import Runtime, Target
from lethe.engine.stop import StopFlag
from lethe.errors import DataRefusedError, LetheError
from lethe.holds.registry import PREFIX_MARK
from lethe.model.keys import ItemKey, key_text
from lethe.model.results import PhaseResult
from lethe.state.batches import new_id
from lethe.state.ledger import BatchEvents, EventDraft, EventRow
from lethe.stores.base import Batch, Item, PartitionFacts, SharesTransaction
from lethe.stores.files import ReleasesFiles

__all__ = ["BatchReport", "PhaseRunner", "ProgressFn"]


@dataclass(frozen=True)
class BatchReport:
    """One committed batch, for progress bars and ``--verbose``."""

    policy: str
    phase: int
    label: str
    batch_id: str
    acted: int
    held: int
    cascade: dict[str, int]
    seconds: float


ProgressFn = Callable[[BatchReport], None]

#: A phase names at most this many refused items in the run's errors, then sums up the rest in
#: one line (each still has its ``skipped_error`` event): a table the database refuses row by
#: row must not turn a run record into a list of all its keys.
ERROR_LINES = 100


@dataclass
class _Tally:
    acted: int = 0
    capped: int = 0
    unreadable: int = 0
    failed: int = 0
    cascade: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)
    partitions: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    locked: int
    last: ItemKey | None
    acted: int
    seconds: float = 0.0


class PhaseRunner:
    """Runs one phase of one policy; ``cap_left`` is shared by the policy's destructive phases."""

    def __init__(
        self,
        rt: Runtime,
        target: Target,
        index: int,
        as_of: datetime,
        run_id: str,
        cap_left: int | None,
        progress: ProgressFn | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.rt = rt
        self.stop = stop
        self.target = target
        self.index = index
        self.action = target.actions[index]
        self.ctx = target.context(as_of)
        self.selection = target.selection(index, as_of)
        self.run_id = run_id
        self.cap_left = cap_left if self.action.destructive else None
        self.batch_size = rt.config.batch_size(target.policy)
        # Sizing by time only matters where a batch holds locks; elsewhere it would only split
        # bulk requests (S3 DeleteObjects takes 1,000 keys) into more, smaller ones.
        self.batch_seconds = rt.config.batch_seconds(target.policy) if target.handle.locks else 0
        self.progress = progress
        self.tally = _Tally()
        self._held_seen: set[str] = set()
        self._blocked_seen: set[str] = set()
        self._unreadable_seen: set[str] = set()
        self._failed_seen: set[str] = set()
        self._error_lines: list[str] = []

    # -- modes ---------------------------------------------------------------------------

    def run(self) -> PhaseResult:
        """Every selected item, in key order, up to the cap (whole partitions first)."""
        self._drop_partitions()
        after: ItemKey | None = None
        skip_locked = True
        size = self.batch_size
        while True:
            self._check_stop()
            limit = size if self.cap_left is None else min(size, self.cap_left)
            if limit == 0:
                self.tally.capped = self._still_eligible()
                break

            def lock(
                batch: Batch,
                after: ItemKey | None = after,
                limit: int = limit,
                skip: bool = skip_locked,
            ) -> list[Item]:
                return batch.lock(self.selection, after=after, limit=limit, skip_locked=skip)

            outcome = self._batch(lock)
            if outcome.locked == 0:
                if skip_locked and self.target.handle.skips_locked:
                    # final pass: pick up rows that were locked by someone else
                    skip_locked, after = False, None
                    continue
                break
            after = outcome.last
            size = next_batch_size(
                size, self.batch_size, self.batch_seconds, outcome.locked, outcome.seconds
            )
        return self.result()

    def run_planned(self, planned: Sequence[str]) -> PhaseResult:
        """Only the planned items that are still selected and not held (``run --plan``)."""
        handle = self.target.handle
        wanted = set(planned)
        newly_due = sum(
            1
            for item in handle.iter_select(self.selection)
            if not item.held and key_text(item.key) not in wanted
        )
        keys = [handle.parse_key(text) for text in planned]
        no_longer = 0
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start : start + self.batch_size]
            self._check_stop()

            def lock(batch: Batch, chunk: list[ItemKey] = chunk) -> list[Item]:
                return batch.lock(self.selection, keys=chunk, limit=len(chunk), skip_locked=False)

            outcome = self._batch(lock)
            no_longer += len(chunk) - outcome.locked
        self.tally.drift = {
            "planned": len(keys),
            "no_longer_due": no_longer,
            "now_held": len(self._held_seen),
            "newly_due_not_planned": newly_due,
        }
        return self.result()

    @property
    def errors(self) -> list[str]:
        """One line per item the store refused (a per-key DeleteObjects error, a row refused
        by a constraint), the first :data:`ERROR_LINES` of them, then one for the rest."""
        unlisted = self.tally.failed - len(self._error_lines)
        if unlisted <= 0:
            return list(self._error_lines)
        t = self.target
        return [
            *self._error_lines,
            f"policy {t.policy}, phase [{self.index}] {self.action.type}: {t.dataset}: "
            f"{unlisted} more items refused by the store (each has its skipped_error event)",
        ]

    def result(self) -> PhaseResult:
        """What the phase did so far."""
        t = self.target
        return PhaseResult(
            policy=t.policy,
            dataset=t.dataset,
            table=t.handle.table,
            phase=self.index,
            action=self.action.type,
            label=self.action.label,
            acted=self.tally.acted,
            held=len(self._held_seen),
            blocked=len(self._blocked_seen),
            capped=self.tally.capped,
            cascade=dict(self.tally.cascade),
            updated=dict(self.tally.updated),
            destructive=self.action.destructive,
            unreadable=self.tally.unreadable,
            failed=self.tally.failed,
            details={"partitions": list(self.tally.partitions)} if self.tally.partitions else {},
        )

    def _still_eligible(self) -> int:
        """Items the cap left for the next run: selected, not held anywhere, and not among
        those a referencing row blocked (the cap did not leave those)."""
        handle = self.target.handle
        registry = self.rt.holds.active_keys(self.target.dataset)
        exact = [handle.parse_key(k) for k in registry if not k.endswith(PREFIX_MARK)]
        exact += [handle.parse_key(k) for k in sorted(self._blocked_seen - registry)]
        eligible, _ = handle.count(self.selection, exclude=exact)
        return eligible

    def _check_stop(self) -> None:
        if self.stop is not None:
            self.stop.check()

    # -- whole partitions -------------------------------------------------------------------

    def _drop_partitions(self) -> None:
        """The partitions the store can drop whole, each as one batch with one event."""
        dropper = PartitionDropper(self.rt, self.target, self.index, self.selection)
        dropper.restore()  # what an interrupted drop left out that no longer qualifies
        for candidate in dropper.candidates(self.cap_left):
            self._check_stop()
            started = time.perf_counter()
            batch_id = new_id("b-")
            drafts: list[EventDraft] = []

            def record(
                batch_id: str,
                facts: PartitionFacts,
                draft: EventDraft,
                drafts: list[EventDraft] = drafts,
            ) -> None:
                t = self.target
                self.rt.batches.prepare(
                    batch_id, self.run_id, t.policy, self.index, [facts.name], EVENT, [draft]
                )
                drafts.append(draft)

            try:
                done = dropper.drop(candidate, self._partition_event, record, batch_id)
            except LetheError:
                if drafts:  # the drop's commit failed: whether it happened is unknown
                    settle_batch(self.rt, batch_id)
                raise
            if done is None:
                continue
            self.rt.batches.commit(batch_id, drafts)
            # Listeners hear of the partition without its keys, which were never read out.
            t = self.target
            notify_batch(
                CommittedBatch(
                    self.run_id,
                    batch_id,
                    t.policy,
                    t.dataset,
                    self.action.type,
                    EVENT,
                    (),
                    {t.handle.table: done.rows},
                    t.dataset_config.table,
                )
            )
            self.tally.partitions.append(partition_line(done))
            self.tally.acted += done.rows
            if self.cap_left is not None:
                self.cap_left -= done.rows
            if self.progress is not None:
                self.progress(
                    BatchReport(
                        self.target.policy,
                        self.index,
                        self.action.label,
                        batch_id,
                        done.rows,
                        0,
                        {},
                        time.perf_counter() - started,
                    )
                )

    def _partition_event(self, batch_id: str, facts: PartitionFacts) -> EventDraft:
        details = {"action": self.action.type, **facts.details()}
        return self._event(batch_id, EVENT, facts.name, details)

    # -- one batch ------------------------------------------------------------------------

    def _batch(self, lock: Callable[[Batch], list[Item]]) -> _Outcome:
        """One batch; should the store refuse it, its items are isolated by bisection."""
        try:
            return self._attempt(lock)
        except Refused as refused:
            acted = isolate(refused, self._attempt_keys, self._skip_refused)
            return _Outcome(len(refused.keys), refused.keys[-1], acted)

    def _attempt_keys(self, keys: Sequence[ItemKey]) -> int:
        """A batch of exactly ``keys`` (those still selected), waiting for their locks."""
        self._check_stop()

        def lock(batch: Batch) -> list[Item]:
            return batch.lock(self.selection, keys=keys, limit=len(keys), skip_locked=False)

        return self._attempt(lock).acted

    def _attempt(self, lock: Callable[[Batch], list[Item]]) -> _Outcome:
        """One store transaction with its intent; raises :class:`Refused` when the store
        refused it for its data after its items were locked."""
        started = time.perf_counter()
        batch_id = new_id("b-")
        t = self.target
        prepared = audited = False
        items: list[Item] = []
        try:
            with t.handle.open_batch() as batch:
                items = lock(batch)
                if not items:
                    return _Outcome(0, None, 0)
                texts = [key_text(item.key) for item in items]
                # A hold lookup that fails raises here: the batch rolls back untouched.
                registry = self.rt.holds.active_keys(t.dataset, texts)
                blocked = t.blocked(self.index, [i.key for i in items], self.ctx.as_of)
                split = partition(items, registry, blocked, None)
                # An item the store failed on is left for the next run, not retried now.
                split = replace(split, act=self._untried(split.act))
                if split.act:
                    # The previous batch's audit goes to the ledger while the store acts.
                    self.rt.batches.overlap(self.run_id)
                details = self.action.apply(batch, split.act, self.ctx) if split.act else {}
                split = _without_blocked(split, batch.blocked)
                drafts = self._drafts(batch_id, split, registry, details)
                files = batch.files if isinstance(batch, ReleasesFiles) else ()
                shared = (
                    batch.shared_connection(self.rt.state.url)
                    if drafts and isinstance(batch, SharesTransaction)
                    else None
                )
                if shared is not None:
                    # lethe's state is this database: the audit commits with the batch.
                    self.rt.batches.record(
                        shared, batch_id, self.run_id, t.policy, self.index, drafts, files
                    )
                    audited = True
                elif drafts:
                    self.rt.batches.prepare(
                        batch_id,
                        self.run_id,
                        t.policy,
                        self.index,
                        [key_text(k) for k in split.act],
                        self.action.event,
                        drafts,
                        files,
                    )
                    prepared = True
            held_for = time.perf_counter() - started  # the store transaction, commit included
        except LetheError as exc:
            if prepared:
                # The commit itself failed: whether it happened is unknown until we look.
                settle_batch(self.rt, batch_id)
            if isinstance(exc, DataRefusedError) and items:
                raise Refused([i.key for i in items], exc, batch_id) from exc
            raise
        self._finish(
            batch_id, prepared, audited, dict(batch.failed), split, details, drafts, started
        )
        return _Outcome(len(items), items[-1].key, len(split.act), held_for)

    def _untried(self, act: Sequence[ItemKey]) -> tuple[ItemKey, ...]:
        if not self._failed_seen:
            return tuple(act)
        return tuple(k for k in act if key_text(k) not in self._failed_seen)

    def _skip_refused(self, refused: Refused) -> None:
        """An item the store refuses on its own: recorded now, since no batch commits it."""
        failed = {key_text(refused.keys[0]): str(refused.error)}
        self._note_skipped((), failed)
        with self.rt.state.write() as conn:
            t = self.target
            rows = self._failed_rows(failed)
            drafts = BatchEvents(
                self.run_id, t.policy, t.dataset, self.index, refused.batch_id, rows
            )
            self.rt.ledger.append(conn, drafts)

    def _finish(
        self,
        batch_id: str,
        prepared: bool,
        audited: bool,
        failed: dict[str, str],
        split: Partition,
        details: Mapping[str, Mapping[str, Any]],
        drafts: BatchEvents,
        started: float,
    ) -> None:
        """After the store committed: audit (failed items apart) unless the store's
        transaction carried it (``audited``), count, tell the batch listeners
        (:mod:`lethe.engine.hooks`), report progress."""
        if prepared:
            if failed:  # those items get their skipped_error event instead of the action's
                event = self.action.event
                kept = [r for r in drafts.rows if not (r[0] == event and r[1] in failed)]
                drafts = drafts.with_rows(kept + self._failed_rows(failed))
            self.rt.batches.commit(batch_id, drafts)
        self._held_seen.update(key_text(k) for k in split.held)  # counted, recorded or not
        self._blocked_seen.update(split.blocked)
        self._note_skipped(split.unreadable, failed)
        acted = [k for k in split.act if key_text(k) not in failed] if failed else list(split.act)
        cascade, updated = _cascade_totals(details)  # one pass over the batch's items
        self._count(acted, cascade, updated)
        if (prepared or audited) and acted:
            notify_batch(
                CommittedBatch(
                    self.run_id,
                    batch_id,
                    self.target.policy,
                    self.target.dataset,
                    self.action.type,
                    self.action.event,
                    tuple(acted),
                    cascade,
                    self.target.dataset_config.table,
                )
            )
        if self.progress is not None:
            self.progress(
                BatchReport(
                    self.target.policy,
                    self.index,
                    self.action.label,
                    batch_id,
                    len(split.act),
                    len(split.held),
                    dict(cascade),
                    time.perf_counter() - started,
                )
            )

    def _drafts(
        self,
        batch_id: str,
        split: Partition,
        registry: AbstractSet[str],
        details: Mapping[str, Mapping[str, Any]],
    ) -> BatchEvents:
        """The batch's audit events: one per item acted on, one per item skipped."""
        event, action = self.action.event, self.action.type
        rows: list[EventRow] = []
        for key in split.act:
            text = key_text(key)
            rows.append((event, text, {"action": action, **details.get(text, {})}))
        held_keys = [key_text(k) for k in split.held if key_text(k) not in self._held_seen]
        held = self._unrecorded_holds(held_keys, registry)
        blocked = {text: {"reason": why} for text, why in split.blocked.items()}
        rows += _first_time("skipped_hold", held, self._held_seen)
        rows += _first_time("skipped_blocked", blocked, self._blocked_seen)
        t = self.target
        return BatchEvents(self.run_id, t.policy, t.dataset, self.index, batch_id, rows)

    def _unrecorded_holds(
        self, keys: Sequence[str], registry: AbstractSet[str]
    ) -> dict[str, dict[str, Any]]:
        """Held items whose skip under their current hold is not in the ledger yet: each hold
        stops an item's phase once in the audit, not once per run (the run's counts still
        say how many were held)."""
        if not keys:
            return {}
        t = self.target
        ids = self.rt.holds.covering(t.dataset, [k for k in keys if k in registry])
        held: dict[str, dict[str, Any]] = {}
        for key in keys:
            if key in registry:
                by, hold = "registry", "registry:" + ",".join(str(i) for i in ids.get(key, ()))
            else:
                by, hold = "hold_table", "hold_table"
            held[key] = {"by": by, "hold": hold}
        recorded = self.rt.ledger.skipped_holds(t.dataset, t.policy, self.index, list(keys))
        return {k: v for k, v in held.items() if (k, v["hold"]) not in recorded}

    def _event(
        self, batch_id: str, event: str, item_key: str, details: Mapping[str, Any]
    ) -> EventDraft:
        t = self.target
        return EventDraft(
            run_id=self.run_id,
            event=event,
            policy=t.policy,
            dataset=t.dataset,
            phase=self.index,
            item_key=item_key,
            batch_id=batch_id,
            details=details,
        )

    def _note_skipped(self, unreadable: Sequence[ItemKey], failed: Mapping[str, str]) -> None:
        fresh = {key_text(k) for k in unreadable} - self._unreadable_seen
        self._unreadable_seen |= fresh
        self.tally.unreadable += len(fresh)
        self.tally.failed += len(failed)
        self._failed_seen |= set(failed)
        t = self.target
        room = max(0, ERROR_LINES - len(self._error_lines))
        self._error_lines.extend(
            f"policy {t.policy}, phase [{self.index}] {self.action.type}: {t.dataset} {key}: {why}"
            for key, why in sorted(failed.items())[:room]
        )

    def _failed_rows(self, failed: Mapping[str, str]) -> list[EventRow]:
        action = self.action.type
        return [
            ("skipped_error", key, {"action": action, "error": why})
            for key, why in sorted(failed.items())
        ]

    def _count(
        self, act: Sequence[ItemKey], cascade: Mapping[str, int], updated: Mapping[str, int]
    ) -> None:
        self.tally.acted += len(act)
        if self.cap_left is not None:
            self.cap_left -= len(act)
        for table, rows in cascade.items():
            self.tally.cascade[table] = self.tally.cascade.get(table, 0) + rows
        for table, rows in updated.items():
            self.tally.updated[table] = self.tally.updated.get(table, 0) + rows


def _cascade_totals(
    details: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows removed and rows updated per table over a batch's items: each row is attributed
    to one item only (:class:`~lethe.stores.base.DeleteOutcome`), so the sums count distinct
    rows. A table's entry is a count, or the keys of its rows (``updated`` lists them)."""
    cascade: dict[str, int] = {}
    updated: dict[str, int] = {}
    for per_item in details.values():
        for part, sums in (("cascade", cascade), ("updated", updated)):
            if part in per_item:
                for table, rows in per_item[part].items():
                    count = rows if isinstance(rows, int) else len(rows)
                    sums[table] = sums.get(table, 0) + count
    return cascade, updated


def _first_time(
    event: str, skipped: Mapping[str, dict[str, Any]], seen: AbstractSet[str]
) -> list[EventRow]:
    """Events for skipped items not yet reported by this phase (the final pass, which starts
    again from the lowest key, meets them a second time). ``seen`` is updated once the batch
    committed: a batch refused and bisected records them in its smaller batches."""
    return [(event, text, why) for text, why in skipped.items() if text not in seen]


def _without_blocked(split: Partition, blocked: Mapping[str, str]) -> Partition:
    """The store refused some items (a referencing row the schema protects): skipped, not
    acted on."""
    if not blocked:
        return split
    act = tuple(k for k in split.act if key_text(k) not in blocked)
    stopped = dict(split.blocked)
    for key in split.act:
        if key_text(key) in blocked:
            stopped[key_text(key)] = blocked[key_text(key)]
    return replace(split, act=act, blocked=stopped)
