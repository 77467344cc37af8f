"""A Redis dataset: the keys matching a SCAN pattern (``job:*``).

Keys are found with ``SCAN … MATCH pattern COUNT 1000`` (never ``KEYS``, which blocks the
server); each page's fields are read in one round trip by a short read-only script (``TYPE``,
``OBJECT IDLETIME``, ``HMGET`` per key), and deletions are one ``UNLINK`` per 1,000 keys (the
memory is freed off the main thread), falling back to a pipeline of single-key ``UNLINK``s whose
replies tell each refused key apart.

Columns: a hash field by its name (``createdAt``), ``@key``, and ``@idle_since`` — the instant
of the key's last access, from ``OBJECT IDLETIME``. ``TYPE`` and ``OBJECT`` do not count as an
access; reading hash fields does, so a dataset aged by idle time should not also filter on
hash fields. SCAN has no order: the executor's cursor resumes the same SCAN between batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from lethe.config.datasets import DatasetConfig
from lethe.errors import StoreError
from lethe.stores.listed import ListedDataset, Row, chunked

__all__ = ["IDLE_SINCE", "KEY", "RedisDataset"]

IDLE_SINCE = "@idle_since"
KEY = "@key"
SCAN_COUNT = 1000

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


class RedisDataset(ListedDataset):
    """The keys of one pattern, scanned a page at a time."""

    def __init__(self, name: str, config: DatasetConfig, client: Redis, label: str) -> None:
        self.name = name
        self.config = config
        self.client = client
        self.label = label
        self.pattern = str(config.pattern)

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
