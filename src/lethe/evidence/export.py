"""``lethe audit events``: the ledger's events, filtered by the database, streamed out as a
table, JSON lines or CSV.

Each record has the fields of :data:`FIELDS`, in that order, and ``schema_version``
(:data:`SCHEMA_VERSION`) says which version of that list it follows; docs/evidence.md
("Audit export") describes every field and what ``details`` holds per event. Rows are read
from the database in slices and written one at a time, so memory does not grow with the
ledger.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import select

from lethe.errors import ConfigError
from lethe.state.ledger import Ledger
from lethe.state.schema import events

__all__ = [
    "EVENTS",
    "FIELDS",
    "FORMATS",
    "SCHEMA_VERSION",
    "EventFilter",
    "export",
    "parse_filter",
    "records",
]

#: The version of the record layout below; raised when a field is renamed, removed or
#: changes meaning (a new field appended at the end does not raise it).
SCHEMA_VERSION = 1

#: The fields of every exported record, in order (the CSV header).
FIELDS = (
    "schema_version",
    "seq",
    "ts",
    "run_id",
    "batch_id",
    "policy",
    "dataset",
    "phase",
    "event",
    "item_key",
    "details",
    "v",
    "entry",
    "hash",
    "leaf",
)

#: Event kinds lethe writes (docs/evidence.md lists what each one's ``details`` hold).
EVENTS = (
    "soft_deleted",
    "hard_deleted",
    "updated",
    "redacted",
    "partition_dropped",
    "orphan_deleted",
    "file_deleted",
    "file_not_deleted",
    "warned",
    "skipped_hold",
    "skipped_blocked",
    "skipped_error",
    "hold_placed",
    "hold_released",
    "approval_granted",
    "approval_used",
    "run_finished",
)

FORMATS = ("table", "jsonl", "csv")


@dataclass(frozen=True)
class EventFilter:
    """Which events to export; ``since``/``until`` are ISO 8601 UTC text as ``ts`` is stored
    (``since`` inclusive, ``until`` exclusive)."""

    dataset: str | None = None
    item_key: str | None = None
    run_id: str | None = None
    kinds: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    limit: int | None = None


def _instant(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-01-31 or 2026-01-31T08:00:00Z)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_filter(
    ledger: Ledger,
    known_datasets: Iterable[str],
    *,
    dataset: str | None = None,
    item_key: str | None = None,
    run_id: str | None = None,
    kinds: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    limit: int | None = None,
) -> EventFilter:
    """Check the command-line filters; a :class:`ConfigError` (exit 2) names the bad one.

    A dataset is known when the policy file declares it or the ledger has events of it (a
    dataset since removed from the policy file still has its history)."""
    if dataset is not None and dataset not in set(known_datasets):
        with ledger.state.read() as conn:
            seen = conn.execute(
                select(events.c.seq).where(events.c.dataset == dataset).limit(1)
            ).first()
        if seen is None:
            raise ConfigError(
                f"--dataset {dataset!r}: no such dataset in the policy file or the audit ledger"
            )
    unknown = [k for k in kinds if k not in EVENTS]
    if unknown:
        raise ConfigError(
            f"--event {unknown[0]!r} is not an event lethe writes: {', '.join(EVENTS)}"
        )
    start, end = _instant("--since", since), _instant("--until", until)
    if start is not None and end is not None and start > end:
        raise ConfigError(f"--since {since} is after --until {until}")
    if limit is not None and limit < 0:
        raise ConfigError(f"--limit {limit} is negative")
    return EventFilter(
        dataset=dataset,
        item_key=item_key,
        run_id=run_id,
        kinds=tuple(dict.fromkeys(kinds)),
        since=None if start is None else start.isoformat(),
        until=None if end is None else end.isoformat(),
        limit=limit,
    )


def records(ledger: Ledger, where: EventFilter) -> Iterator[dict[str, Any]]:
    """The matching events as export records (:data:`FIELDS`), in sequence order."""
    for event in ledger.iter_events(
        dataset=where.dataset,
        item_key=where.item_key,
        run_id=where.run_id,
        kinds=where.kinds,
        since=where.since,
        until=where.until,
        limit=where.limit,
    ):
        yield {"schema_version": SCHEMA_VERSION, **{f: event[f] for f in FIELDS[1:]}}


def _compact(value: Any) -> str:
    # Key order kept: records in FIELDS order, details as stored (sorted when written).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _table_line(record: dict[str, Any]) -> str:
    details = _compact(record["details"])
    if len(details) > 70:
        details = details[:69] + "…"
    phase = "" if record["phase"] is None else str(record["phase"])
    return (
        f"{record['seq']:>8}  {record['ts'][:19]:<19}  {record['run_id']:<28}  "
        f"{record['event']:<17}  {record['dataset'] or '':<16}  {phase:>5}  "
        f"{record['item_key'] or '':<20}  {details}"
    )


def export(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Write ``rows`` to ``out`` in ``fmt`` one record at a time; returns how many."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(FIELDS)
    elif fmt == "table":
        buffer.write(
            f"{'seq':>8}  {'ts (UTC)':<19}  {'run':<28}  {'event':<17}  {'dataset':<16}  "
            f"{'phase':>5}  {'item':<20}  details\n"
        )
    count = 0
    for record in rows:
        count += 1
        if fmt == "jsonl":
            buffer.write(_compact(record) + "\n")
        elif fmt == "csv":
            writer.writerow(_csv_cell(record, f) for f in FIELDS)
        else:
            buffer.write(_table_line(record) + "\n")
        if count % 1000 == 0:  # written in slices: constant memory, few system calls
            out.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue())
    return count


def _csv_cell(record: dict[str, Any], name: str) -> Any:
    value = record[name]
    if name == "details":
        return _compact(value)
    return "" if value is None else value
