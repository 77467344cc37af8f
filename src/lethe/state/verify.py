"""Walking the stored ledger to recompute every hash (``lethe audit verify``).

Events are read in sequence order alongside the entries that seal them. Format-1 events (those
stored before entries existed) are checked link by link as they always were; every later
event must be format 2, inside the entry covering its sequence number, with the leaf hash its
stored fields give; each entry must follow the one before it, hold the root of its events'
stored leaves and the hash of its own fields. Each check compares a recomputed value with the
stored one at one level only, so an edit is named where it was made (the event, or the entry)
and the levels above still vouch for what the levels below store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lethe.state import digest
from lethe.state.digest import FIELDS, GENESIS

__all__ = ["Walk"]


class Walk:
    """One pass over the ledger: feed every event (:meth:`event`) in sequence order, then
    :meth:`finish` with the chain head row; :attr:`problems` says what failed."""

    def __init__(self, entries: Iterator[Mapping[Any, Any]]) -> None:
        self.problems: list[str] = []
        self.count = 0
        #: The chain's value so far: the last format-1 event's hash, then the last entry's.
        self.chain = GENESIS
        self._entries = entries
        self._entry: Mapping[Any, Any] | None = next(entries, None)
        self._sealed = False  # an entry has begun: format-1 events are over
        self._leaves: list[bytes] = []
        self._next_seq, self._next_entry, self._prev = 1, 1, GENESIS

    def event(self, row: Mapping[Any, Any]) -> None:
        """Check one stored event (a row of ``lethe_events``)."""
        self.count += 1
        seq = int(row["seq"])
        if seq != self._next_seq:
            self.problems.append(f"event {self._next_seq} is missing (next stored is {seq})")
        self._advance(seq)
        entry = self._entry
        inside = entry is not None and int(entry["first_seq"]) <= seq
        version = row["v"]
        if version == 1:
            self._format_1(row, seq)
        elif version == 2:
            self._format_2(row, seq, entry if inside else None)
        else:
            self.problems.append(f"event {seq} has format {version}, which this lethe cannot read")
        self._prev, self._next_seq = str(row["hash"]), seq + 1

    def _format_1(self, row: Mapping[Any, Any], seq: int) -> None:
        if self._sealed:
            self.problems.append(f"event {seq} is in format 1 after the ledger moved to entries")
        if row["prev_hash"] != self._prev:
            self.problems.append(f"event {seq} does not follow the event before it")
        text = digest.canonical(1, seq, row["ts"], [row[f] for f in FIELDS], row["details"])
        if digest.chained_hash(row["prev_hash"], text) != row["hash"]:
            self.problems.append(f"event {seq} was altered (hash mismatch)")
        if not self._sealed:
            self.chain = str(row["hash"])

    def _format_2(self, row: Mapping[Any, Any], seq: int, entry: Mapping[Any, Any] | None) -> None:
        first = entry is not None and int(entry["first_seq"]) == seq
        if row["prev_hash"] != (self.chain if first else self._prev):
            self.problems.append(f"event {seq} does not follow the event before it")
        text = digest.canonical(2, seq, row["ts"], [row[f] for f in FIELDS], row["details"])
        if digest.leaf_hash(text).hex() != row["hash"]:
            self.problems.append(f"event {seq} was altered (hash mismatch)")
        if entry is None or row["entry"] != entry["seq"]:
            self.problems.append(f"event {seq} is not sealed by a ledger entry")
            return
        try:
            self._leaves.append(bytes.fromhex(str(row["hash"])))
        except ValueError:
            self._leaves.append(b"")  # not a hash at all: the entry's root cannot match

    def _advance(self, seq: int) -> None:
        """Close every entry that ends before ``seq``; the next one becomes current."""
        while self._entry is not None:
            entry = self._entry
            if seq < int(entry["first_seq"]):
                return
            self._sealed = True
            if seq < int(entry["first_seq"]) + int(entry["count"]):
                return
            self._close(entry)
            self._entry = next(self._entries, None)

    def _close(self, entry: Mapping[Any, Any]) -> None:
        number, first, count = int(entry["seq"]), int(entry["first_seq"]), int(entry["count"])
        where = f"ledger entry {number} (events {first}–{first + count - 1})"
        if number != self._next_entry:
            self.problems.append(f"ledger entry {self._next_entry} is missing (next is {number})")
        if entry["v"] != 2:
            self.problems.append(f"{where} has format {entry['v']}, which lethe cannot read")
        if entry["prev_hash"] != self.chain:
            self.problems.append(f"{where} does not follow the entry before it")
        if len(self._leaves) != count:
            self.problems.append(f"{where} seals {count} events, {len(self._leaves)} are stored")
        if not self._leaves or digest.merkle_root(self._leaves).hex() != entry["root"]:
            self.problems.append(f"{where} was altered (its events' digest does not match)")
        text = digest.entry_canonical(
            number, first, count, entry["ts"], entry["batch_id"], entry["root"], entry["prev_hash"]
        )
        if digest.entry_hash(text) != entry["hash"]:
            self.problems.append(f"{where} was altered (hash mismatch)")
        self.chain, self._next_entry, self._leaves = str(entry["hash"]), number + 1, []

    def finish(self, head: Mapping[Any, Any]) -> None:
        """After the last event: close the entries left and compare with the chain head."""
        self._advance(self._next_seq + 2**62)  # past any sequence number
        last_seq, last_entry = self._next_seq - 1, self._next_entry - 1
        if (
            int(head["seq"]) != last_seq
            or head["hash"] != self.chain
            or int(head["entry"]) != last_entry
        ):
            self.problems.append(
                f"chain head says event {head['seq']} is the newest, but the ledger ends at "
                f"{last_seq}: events were removed or the head was edited"
            )
