"""A Redis dataset: the keys matching a SCAN pattern (``job:*``).

Keys are found with ``SCAN … MATCH pattern COUNT 1000`` (never ``KEYS``, which blocks the
server); each page is judged in one round trip by a short read-only script that reads each key
(``TYPE``, ``OBJECT IDLETIME``, ``HMGET``) and answers with the selected and unreadable keys
only (:mod:`~lethe.stores.redis.script`; Python judges the rare key whose timestamp the script
cannot read with certainty, and every key of a condition it cannot translate exactly, see
:mod:`~lethe.stores.redis.program`). Deletions are one ``UNLINK`` per 1,000 keys (the
memory is freed off the main thread), falling back to a pipeline of single-key ``UNLINK``s whose
replies tell each refused key apart.

Columns: a hash field by its name (``createdAt``), ``@key``, and ``@idle_since`` — the instant
of the key's last access, from ``OBJECT IDLETIME``. ``TYPE`` and ``OBJECT`` do not count as an
access; reading hash fields does, so a dataset aged by idle time should not also filter on
hash fields. SCAN has no order: the executor's cursor resumes the same SCAN between batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from lethe.config.datasets import DatasetConfig
from lethe.errors import StoreError
from lethe.model.conditions import Any_, Condition
from lethe.model.keys import ItemKey
from lethe.stores.base import Item
from lethe.stores.listed import Judge, ListedBatch, ListedDataset, Row, chunked
from lethe.stores.redis.ahead import Ahead
from lethe.stores.redis.program import COUNT_ONLY, IDLE_SINCE, KEY, Program, compile_program

__all__ = ["IDLE_SINCE", "KEY", "RedisDataset"]

SCAN_COUNT = 1000
#: Pages judged ahead of the batch that takes them (a page of 5,000 scanned keys holds about
#: half a batch at 10 % due); at most this many pages' verdicts wait in memory. 0: no thread.
PAGES_AHEAD = 4
#: SCAN's COUNT for a judged listing: a page is judged in scripts of SCAN_COUNT keys each, all
#: in one pipeline with the next SCAN.
LIST_COUNT = 5000
#: A reader whose pages nobody takes for this long stops, keeping its place.
READER_IDLE = 30.0
_READER = "lethe-redis-reader"
#: Why a key judged selected when listed was not deleted: it changed before its batch.
_NO_LONGER = "no longer selected when its batch deleted it (changed since it was listed)"
#: A SCAN's place: the cursor to scan next and the page scanned but not judged yet (None
#: before the first SCAN).
_Place = tuple[int, list[bytes | str] | None]

# Per key: {type, idle seconds or 0, fields...}; a missing field comes back as nil. Read-only,
# short (one page of keys), and it names every key it touches, so ACL key patterns apply.
_READ = """
local out = {}
local idle = ARGV[1] == "1"
for i, key in ipairs(KEYS) do
  local kind = redis.call("TYPE", key)["ok"]
  local row = {kind, 0}
  if kind ~= "none" and idle then row[2] = redis.call("OBJECT", "IDLETIME", key) end
  if kind == "hash" and #ARGV > 1 then
    local values = redis.call("HMGET", key, unpack(ARGV, 2))
    for j = 1, #ARGV - 1 do row[j + 2] = values[j] end
  end
  out[i] = row
end
return out
"""


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _key(raw: bytes | str) -> str | None:
    """A scanned key as text; None for one that is not UTF-8, which lethe cannot name (a
    reply decoded with replacement characters would name another key)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class RedisDataset(ListedDataset):
    """The keys of one pattern, scanned a page at a time."""

    def __init__(self, name: str, config: DatasetConfig, client: Redis, label: str) -> None:
        self.name = name
        self.config = config
        self.client = client
        self.label = label
        self.pattern = str(config.pattern)
        #: The server refused the delete script (an ACL without EVAL): judge, then UNLINK.
        self._eval_refused = False

    @property
    def table(self) -> str:
        return self.pattern

    # -- reading -------------------------------------------------------------------------

    def rows(self, columns: set[str], after: str | None) -> Iterator[tuple[str, Row]]:
        """Keys in SCAN order. SCAN has no "after": a new listing sees every key again (the
        next batch of a run instead continues the current SCAN, see ``ListedDataset``)."""
        return self._scan(columns)

    def _scan(self, columns: set[str]) -> Iterator[tuple[str, Row]]:
        cursor = 0
        while True:
            try:
                cursor, page = self.client.scan(cursor, match=self.pattern, count=SCAN_COUNT)
            except RedisError as exc:
                raise StoreError(f"{self.label}: {exc}") from exc
            keys = sorted({_text(k) for k in page})
            yield from self._read(keys, columns).items()
            if cursor == 0:
                return

    def judged(self, condition: Condition, after: ItemKey | None) -> Iterator[Item]:
        """Selected (and unreadable) keys in SCAN order, judged by the page script."""
        program = compile_program(condition)
        if program is None:
            return super().judged(condition, after)
        return self._judged(condition, program)

    def _judged(self, condition: Condition, program: Program) -> Iterator[Item]:
        """The pages judged ahead by a thread (:class:`~lethe.stores.redis.ahead.Ahead`)
        while the run audits and deletes the batch before; closing the listing stops it."""
        judge = Judge(condition)

        def step(state: _Place) -> tuple[list[tuple[str, bool | None]], _Place | None]:
            return self._judge_ahead(state, program, judge)

        start: _Place = (0, None)
        if PAGES_AHEAD == 0:
            place: _Place | None = start
            while place is not None:
                page, place = step(place)
                for key, verdict in page:
                    yield Item(key, unreadable=verdict is None)
            return
        pages = Ahead(step, start, ahead=PAGES_AHEAD, idle=READER_IDLE, name=_READER)
        try:
            for page in pages:
                for key, verdict in page:
                    yield Item(key, unreadable=verdict is None)
        finally:
            pages.close()

    def _judge_ahead(
        self, place: _Place, program: Program, judge: Judge
    ) -> tuple[list[tuple[str, bool | None]], _Place | None]:
        """One page's verdicts and the place after it. Each page's script and the next
        page's SCAN go in one pipeline: one round trip per page instead of two (the SCAN
        needs only the cursor, not the verdicts)."""
        cursor, page = place
        if page is None:
            cursor, page = self._scan_page(0, LIST_COUNT)
        while not page and cursor != 0:
            cursor, page = self._scan_page(cursor, LIST_COUNT)
        keys = list(dict.fromkeys(page))
        if not keys:
            return [], None
        now = datetime.now(UTC)
        pipe = self.client.pipeline(transaction=False)
        # each script judges at most 1,000 keys: the server serves others in between
        chunks = [keys[n : n + SCAN_COUNT] for n in range(0, len(keys), SCAN_COUNT)]
        for chunk in chunks:
            pipe.eval_ro(program.script, len(chunk), *chunk, *program.arguments(now))
        if cursor != 0:
            pipe.scan(cursor, match=self.pattern, count=LIST_COUNT)
        try:
            replies = pipe.execute()
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        verdicts = [
            found
            for chunk, reply in zip(chunks, replies, strict=False)
            for found in self._verdicts(chunk, program, judge, now, reply)[1]
        ]
        if cursor == 0:
            return verdicts, None
        found, following = replies[-1]
        return verdicts, (int(found), following)

    def close_listing(self) -> None:
        """End the listing a run's batches shared, and its reader thread (the store's
        ``close``, at the end of a run)."""
        listing, self._listing = self._listing, None
        if listing is not None:
            close = getattr(listing[2], "close", None)
            if close is not None:
                close()

    def _scan_page(self, cursor: int, count: int) -> tuple[int, list[bytes | str]]:
        try:
            found, page = self.client.scan(cursor, match=self.pattern, count=count)
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        return int(found), page

    def verdicts_for(self, condition: Condition, keys: Sequence[str]) -> dict[str, bool | None]:
        """Those of ``keys`` selected (True) or unreadable (None), judged by the page script."""
        program = compile_program(condition)
        if program is None:
            return super().verdicts_for(condition, keys)
        judge = Judge(condition)
        found: dict[str, bool | None] = {}
        for chunk in chunked(keys, SCAN_COUNT):
            found.update(self._judge_page(chunk, program, judge)[1])
        return found

    def table_sizes(self) -> dict[str, int]:
        """The number of keys matching the pattern now, counted by the page script."""
        judge = Judge(Any_(()))
        total = sum(self._judge_page(page, COUNT_ONLY, judge)[0] for page in self._pages())
        return {self.table: total}

    def _pages(self) -> Iterator[list[bytes | str]]:
        """The SCAN's pages of keys, as the server names them (no duplicates in a page)."""
        cursor = 0
        while True:
            try:
                cursor, page = self.client.scan(cursor, match=self.pattern, count=SCAN_COUNT)
            except RedisError as exc:
                raise StoreError(f"{self.label}: {exc}") from exc
            if page:
                yield list(dict.fromkeys(page))
            if cursor == 0:
                return

    def _judge_page(
        self, keys: Sequence[bytes | str], program: Program, judge: Judge
    ) -> tuple[int, list[tuple[str, bool | None]]]:
        """How many of ``keys`` exist, and the verdicts that are not "not selected": one
        round trip, and Python judges only the keys the script defers."""
        if not keys:
            return 0, []
        now = datetime.now(UTC)
        try:
            reply = self.client.eval_ro(program.script, len(keys), *keys, *program.arguments(now))
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        return self._verdicts(keys, program, judge, now, reply)

    def _verdicts(
        self,
        keys: Sequence[bytes | str],
        program: Program,
        judge: Judge,
        now: datetime,
        reply: Any,
    ) -> tuple[int, list[tuple[str, bool | None]]]:
        """The page script's reply read: Python judges only the keys the script defers."""
        existing, verdicts, deferred = reply
        found: list[tuple[str, bool | None]] = []
        for n in range(0, len(verdicts), 2):
            key = _key(keys[verdicts[n] - 1])
            if key is not None:
                found.append((key, True if verdicts[n + 1] == 1 else None))
        for index, idle_seconds, *values in deferred:
            key = _key(keys[index - 1])
            if key is None:
                continue
            row: Row = {f: _text(v) for f, v in zip(program.fields, values, strict=True)}
            row[KEY] = key
            if program.idle:
                row[IDLE_SINCE] = now - timedelta(seconds=int(idle_seconds))
            verdict = judge(row)
            if verdict is not False:
                found.append((key, verdict))
        return int(existing), found

    def rows_for(self, keys: Sequence[str], columns: set[str]) -> dict[str, Row]:
        found: dict[str, Row] = {}
        for chunk in chunked(keys, SCAN_COUNT):
            found.update(self._read(chunk, columns))
        return found

    def _read(self, keys: Sequence[str], columns: set[str]) -> dict[str, Row]:
        """One round trip per page: a read-only script returns each key's type, idle time and
        fields (``TYPE`` and ``OBJECT`` before ``HMGET``, which counts as an access)."""
        fields = sorted(c for c in columns if not c.startswith("@"))
        idle = IDLE_SINCE in columns
        if not keys:
            return {}
        arguments = (*keys, "1" if idle else "0", *fields)
        try:
            # EVAL_RO: a read-only script, so ACLs ask read access only (Redis 7).
            replies = self.client.eval_ro(_READ, len(keys), *arguments)
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        now = datetime.now(UTC)
        rows: dict[str, Row] = {}
        for key, (kind, idle_seconds, *values) in zip(keys, replies, strict=True):
            if _text(kind) == "none":
                continue  # gone since it was scanned
            row: Row = {KEY: key}
            if idle:
                row[IDLE_SINCE] = now - timedelta(seconds=int(idle_seconds))
            # a key that is not a hash has no fields: an age read from one is unreadable
            row.update({f: _text(v) for f, v in zip(fields, values, strict=False)})
            rows[key] = row
        return rows

    # -- deleting ------------------------------------------------------------------------

    @contextmanager
    def open_batch(self) -> Iterator[ListedBatch]:
        """A batch whose deletions happen when it commits, each key judged again then."""
        batch = _RedisBatch(self)
        yield batch
        batch.commit()

    def remove_due(self, condition: Condition | None, keys: Sequence[str]) -> dict[str, str]:
        """Delete those of ``keys`` that ``condition`` still selects, judged again now: one
        ``EVAL`` of the delete script per 1,000 keys, which judges and unlinks atomically.
        Returns the keys not deleted, with why (refused, or no longer selected)."""
        program = None if condition is None else compile_program(condition)
        if condition is None:
            return self.remove(keys)
        failed: dict[str, str] = {}
        for chunk in chunked(keys, SCAN_COUNT):
            if program is not None and not self._eval_refused:
                done = self._delete_page(chunk, program, Judge(condition))
                if done is not None:
                    failed.update(done)
                    continue
            # Judged again just before the UNLINK (a program only Python can judge, or a
            # server that refuses EVAL to this user: `lethe grants` asks only EVAL_RO)
            verdicts = self.verdicts_for(condition, chunk)
            still = [k for k in chunk if verdicts.get(k, False) is True]
            failed.update({k: _NO_LONGER for k in chunk if verdicts.get(k, False) is not True})
            failed.update(self.remove(still))
        return failed

    def _delete_page(
        self, keys: list[str], program: Program, judge: Judge
    ) -> dict[str, str] | None:
        """The delete script over ``keys``; None when the server refuses the script itself
        (then nothing was deleted)."""
        now = datetime.now(UTC)
        try:
            reply = self.client.eval(
                program.delete_script, len(keys), *keys, *program.arguments(now)
            )
        except ResponseError as exc:
            if "NOPERM" in str(exc) or "unknown command" in str(exc):
                self._eval_refused = True
            return None
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        existing, verdicts, deferred, refused = reply
        failed = {keys[refused[n] - 1]: _text(refused[n + 1]) for n in range(0, len(refused), 2)}
        deleted = {
            keys[verdicts[n] - 1] for n in range(0, len(verdicts), 2) if verdicts[n + 1] == 1
        }
        # A key whose timestamp only Python reads: judged here, unlinked on its own.
        late = [
            k
            for k, v in self._verdicts(keys, program, judge, now, [existing, [], deferred])[1]
            if v is True
        ]
        if late:
            failed.update(self.remove(late))
            deleted.update(late)
        failed.update({k: _NO_LONGER for k in keys if k not in deleted and k not in failed})
        return failed

    def remove(self, keys: Sequence[str]) -> dict[str, str]:
        """One ``UNLINK`` per 1,000 keys; if the server refuses one (an ACL, a cluster slot),
        the keys are unlinked one by one in a pipeline so each failure is told apart."""
        failed: dict[str, str] = {}
        for chunk in chunked(keys, SCAN_COUNT):
            try:
                self.client.unlink(*chunk)
                continue
            except ResponseError:
                pass
            except RedisError as exc:
                raise StoreError(f"{self.label}: {exc}") from exc
            pipe = self.client.pipeline(transaction=False)
            for key in chunk:
                pipe.unlink(key)
            try:
                replies = pipe.execute(raise_on_error=False)
            except RedisError as exc:
                raise StoreError(f"{self.label}: {exc}") from exc
            for key, reply in zip(chunk, replies, strict=True):
                if isinstance(reply, Exception):
                    failed[key] = str(reply)
        return failed


class _RedisBatch(ListedBatch):
    """A listed batch that deletes only what its selection still selects at commit."""

    dataset: RedisDataset

    def commit(self) -> None:
        """Delete what was marked and is still selected; the rest goes to :attr:`failed`."""
        if self._doomed:
            self.failed.update(self.dataset.remove_due(self.condition, self._doomed))
            self._doomed = []
