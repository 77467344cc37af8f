"""Ledger entries (format 2): one digest per batch, and still every edit, removal and insertion
of an event or of a whole batch is found; format-1 ledgers migrate and keep verifying."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from lethe import Lethe
from lethe.errors import StoreError
from lethe.state import digest
from lethe.state.db import StateDB
from lethe.state.digest import FIELDS
from lethe.state.ledger import EventDraft, Ledger, _insert_many
from tests.support.apps import NOW
from tests.support.crash import purge_census

GOLDEN = Path(__file__).parent / "golden" / "state-ledger-v1.sql"


@pytest.fixture
def purged(sqlite_url: str, tmp_path: Path) -> Iterator[Lethe]:
    """30 surveys purged in batches of 10: entries 1–3 hold events 1–10, 11–20, 21–30, entry
    4 the run's end (event 31)."""
    policy = purge_census(sqlite_url, tmp_path, surveys=30, responses=1, batch_size=10, due=NOW)
    lethe = Lethe.from_file(policy, env={})
    assert lethe.run(as_of=NOW).errors == ()
    assert lethe.verify_audit().ok
    yield lethe
    lethe.close()


def _tamper(lethe: Lethe, change: Callable[[Connection], object]) -> list[str]:
    with lethe.runtime.state.engine.begin() as conn:
        change(conn)
    return list(lethe.verify_audit().problems)


def _row(conn: Connection, table: str, seq: int) -> dict[str, Any]:
    query = text(f"SELECT * FROM {table} WHERE seq = :seq")
    return dict(conn.execute(query, {"seq": seq}).mappings().one())


def _leaf(row: dict[str, Any]) -> str:
    """What a forger who knows the format computes for an event row."""
    canonical = digest.canonical(2, row["seq"], row["ts"], [row[f] for f in FIELDS], row["details"])
    return digest.leaf_hash(canonical).hex()


def _reseal(conn: Connection, number: int) -> None:
    """Recompute entry ``number``'s root and hash from its stored events, as a forger would."""
    entry = _row(conn, "lethe_entries", number)
    stored = conn.execute(
        text("SELECT hash FROM lethe_events WHERE entry = :n ORDER BY seq"), {"n": number}
    ).scalars()
    root = digest.merkle_root([bytes.fromhex(h) for h in stored]).hex()
    canonical = digest.entry_canonical(
        number, entry["first_seq"], entry["count"], entry["ts"], entry["batch_id"], root,
        entry["prev_hash"],
    )  # fmt: skip
    conn.execute(
        text("UPDATE lethe_entries SET root = :r, hash = :h WHERE seq = :n"),
        {"r": root, "h": digest.entry_hash(canonical), "n": number},
    )


def test_each_batch_is_one_entry_sealing_its_events(purged: Lethe) -> None:
    events = list(purged.runtime.ledger.iter_events())
    assert [e["entry"] for e in events] == [1] * 10 + [2] * 10 + [3] * 10 + [4]
    assert {e["v"] for e in events} == {2}
    with purged.runtime.state.engine.connect() as conn:
        entries = conn.execute(text("SELECT * FROM lethe_entries ORDER BY seq")).mappings().all()
    assert [(e["first_seq"], e["count"]) for e in entries] == [(1, 10), (11, 10), (21, 10), (31, 1)]
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    # Every event names its entry's hash as the chain's head, and the last is the report's.
    assert [e["hash"] for e in events][9::10] == [e["hash"] for e in entries[:3]]
    assert purged.verify_audit().head == entries[-1]["hash"] == events[-1]["hash"]


def test_editing_one_event_of_a_batch_names_that_event(purged: Lethe) -> None:
    change = 'UPDATE lethe_events SET details = \'{"action":"purge"}\' WHERE seq = 15'
    assert _tamper(purged, lambda c: c.execute(text(change))) == [
        "event 15 was altered (hash mismatch)"
    ]


def test_an_event_edited_with_its_leaf_recomputed_breaks_its_entry(purged: Lethe) -> None:
    def forge(conn: Connection) -> None:
        conn.execute(text("UPDATE lethe_events SET item_key = '999' WHERE seq = 15"))
        row = _row(conn, "lethe_events", 15)
        conn.execute(text("UPDATE lethe_events SET hash = :h WHERE seq = 15"), {"h": _leaf(row)})
        conn.execute(
            text("UPDATE lethe_events SET prev_hash = :h WHERE seq = 16"), {"h": _leaf(row)}
        )

    problems = _tamper(purged, forge)
    assert problems == [
        "ledger entry 2 (events 11–20) was altered (its events' digest does not match)"
    ]


def test_an_entry_resealed_after_an_edit_breaks_the_next_entry(purged: Lethe) -> None:
    def forge(conn: Connection) -> None:
        conn.execute(text("UPDATE lethe_events SET item_key = '999' WHERE seq = 15"))
        row = _row(conn, "lethe_events", 15)
        conn.execute(text("UPDATE lethe_events SET hash = :h WHERE seq = 15"), {"h": _leaf(row)})
        conn.execute(
            text("UPDATE lethe_events SET prev_hash = :h WHERE seq = 16"), {"h": _leaf(row)}
        )
        _reseal(conn, 2)

    problems = _tamper(purged, forge)
    assert problems == [
        "event 21 does not follow the event before it",  # an entry's first follows the entry
        "ledger entry 3 (events 21–30) does not follow the entry before it",
    ]


def test_removing_one_event_of_a_batch_is_detected(purged: Lethe) -> None:
    problems = _tamper(purged, lambda c: c.execute(text("DELETE FROM lethe_events WHERE seq = 15")))
    assert "event 15 is missing (next stored is 16)" in problems
    assert "ledger entry 2 (events 11–20) seals 10 events, 9 are stored" in problems


def test_removing_a_whole_batch_is_detected(purged: Lethe) -> None:
    def remove(conn: Connection) -> None:
        conn.execute(text("DELETE FROM lethe_events WHERE entry = 2"))
        conn.execute(text("DELETE FROM lethe_entries WHERE seq = 2"))

    problems = _tamper(purged, remove)
    assert "event 11 is missing (next stored is 21)" in problems
    assert "ledger entry 2 is missing (next is 3)" in problems
    assert "ledger entry 3 (events 21–30) does not follow the entry before it" in problems


def test_removing_the_newest_batch_and_its_entry_is_found_by_the_head(purged: Lethe) -> None:
    def remove(conn: Connection) -> None:
        conn.execute(text("DELETE FROM lethe_events WHERE entry = 4"))
        conn.execute(text("DELETE FROM lethe_entries WHERE seq = 4"))

    problems = _tamper(purged, remove)
    assert problems == [
        "chain head says event 31 is the newest, but the ledger ends at 30: events were "
        "removed or the head was edited"
    ]


def test_an_event_slipped_into_a_batch_is_detected(purged: Lethe) -> None:
    """A forged deletion inserted as event 16 of batch 2 (later events renumbered), its leaf and
    link computed as lethe would."""

    def insert(conn: Connection) -> None:
        conn.execute(text("UPDATE lethe_events SET seq = seq + 1000 WHERE seq > 15"))
        conn.execute(text("UPDATE lethe_events SET seq = seq - 999 WHERE seq > 1000"))
        row = {**_row(conn, "lethe_events", 15), "seq": 16, "item_key": "999"}
        row["prev_hash"], row["hash"] = row["hash"], _leaf(row)
        conn.execute(
            text(f"INSERT INTO lethe_events ({', '.join(row)}) VALUES (:{', :'.join(row)})"),
            row,
        )

    problems = _tamper(purged, insert)
    assert "event 17 was altered (hash mismatch)" in problems  # its seq is in its leaf
    assert "ledger entry 2 (events 11–20) was altered (its events' digest does not match)" in (
        problems
    )


def test_a_forged_batch_appended_after_the_newest_is_detected(purged: Lethe) -> None:
    """A whole entry forged with correct hashes after the last one: only the head betrays it
    (a forger who also rewrites the head is what signed entries, issue 16, will stop)."""

    def append(conn: Connection) -> None:
        last = _row(conn, "lethe_entries", 4)
        row = {**_row(conn, "lethe_events", 31), "seq": 32, "entry": 5}
        row["prev_hash"], row["hash"] = last["hash"], _leaf(row)
        conn.execute(
            text(f"INSERT INTO lethe_events ({', '.join(row)}) VALUES (:{', :'.join(row)})"),
            row,
        )
        root = digest.merkle_root([bytes.fromhex(row["hash"])]).hex()
        entry = {
            "seq": 5, "v": 2, "first_seq": 32, "count": 1, "ts": row["ts"], "batch_id": None,
            "root": root, "prev_hash": last["hash"],
        }  # fmt: skip
        entry["hash"] = digest.entry_hash(
            digest.entry_canonical(5, 32, 1, row["ts"], None, root, last["hash"])
        )
        conn.execute(
            text(f"INSERT INTO lethe_entries ({', '.join(entry)}) VALUES (:{', :'.join(entry)})"),
            entry,
        )

    problems = _tamper(purged, append)
    assert problems == [
        "chain head says event 31 is the newest, but the ledger ends at 32: events were "
        "removed or the head was edited"
    ]


def _format_1_state(tmp_path: Path) -> StateDB:
    """The ledger a revision-0003 lethe wrote (tests/golden), opened (and so migrated) now."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(GOLDEN.read_text())
    return StateDB(f"sqlite:///{path}")


def _append(state: StateDB, *keys: str) -> tuple[int, str]:
    drafts = [
        EventDraft(run_id="r", event="hard_deleted", dataset="surveys", item_key=k) for k in keys
    ]
    with state.write() as conn:
        return Ledger(state).append(conn, drafts)


def test_a_format_1_ledger_still_verifies_and_entries_follow_its_last_event(
    tmp_path: Path,
) -> None:
    state = _format_1_state(tmp_path)
    ledger = Ledger(state)
    before = ledger.verify()
    assert before.ok and before.events == 7
    assert before.head == "db9161eb93d8d887566ec7164ceb3d5ded5cd8df07117b0859a268859a857c79"
    seq, head = _append(state, "10", "11")
    after = ledger.verify()
    assert after.ok and after.events == 9 and (seq, head) == (9, after.head)
    with state.engine.connect() as conn:
        first = _row(conn, "lethe_entries", 1)
        versions = conn.execute(text("SELECT v FROM lethe_events ORDER BY seq")).scalars().all()
    assert first["prev_hash"] == before.head and first["first_seq"] == 8
    assert versions == [1] * 7 + [2] * 2
    state.dispose()


def test_edits_to_a_migrated_format_1_ledger_are_still_found(tmp_path: Path) -> None:
    state = _format_1_state(tmp_path)
    _append(state, "10")
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE lethe_events SET item_key = '99' WHERE seq = 3"))
    assert list(Ledger(state).verify().problems) == ["event 3 was altered (hash mismatch)"]
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE lethe_events SET item_key = '2' WHERE seq = 3"))
        # An event disguised as format 1 among the entries: no longer where format 1 may be.
        conn.execute(text("UPDATE lethe_events SET v = 1 WHERE seq = 8"))
    problems = Ledger(state).verify().problems
    assert "event 8 is in format 1 after the ledger moved to entries" in problems
    state.dispose()


def test_entries_verify_on_a_postgresql_state_database(pg_url: str) -> None:
    """Events and entries are read by two cursors of one transaction (server-side on
    psycopg): tampering is found there as on SQLite."""
    state = StateDB(pg_url)
    for start in range(0, 30, 10):
        _append(state, *(str(k) for k in range(start, start + 10)))
    ledger = Ledger(state)
    assert ledger.verify().ok and ledger.verify().events == 30
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE lethe_events SET item_key = 'x' WHERE seq = 12"))
    assert list(ledger.verify().problems) == ["event 12 was altered (hash mismatch)"]
    state.dispose()


def test_events_copied_into_postgresql_read_back_exactly(pg_url: str) -> None:
    """On PostgreSQL the events go in by ``COPY``: keys and details holding what its text
    format escapes (tabs, newlines, backslashes, ``\\.``) come back as written and verify."""
    state = StateDB(pg_url)
    awkward = ["a\tb", "line\nbreak", "back\\slash", "\\.", "\\N", "", "ünï 🗝", '\'"quoted"']
    drafts = [
        EventDraft(
            run_id="r",
            event="hard_deleted",
            dataset="surveys",
            item_key=key,
            batch_id="b-1",
            details={"note": key, "cascade": {"t\tab": 1}},
        )
        for key in awkward
    ]
    with state.write() as conn:
        Ledger(state).append(conn, drafts)
    events = list(Ledger(state).iter_events())
    assert [e["item_key"] for e in events] == awkward
    assert [e["details"] for e in events] == [dict(d.details) for d in drafts]
    assert Ledger(state).verify().ok
    # a refused COPY is translated as a refused statement is: one line naming the database
    refused = pytest.raises(StoreError, match=r"state database .* violates not-null")
    with refused, state.write() as conn:
        _insert_many(conn, [(1, *[None] * 13)])
    state.dispose()


def _state_commits(url: str, directory: Path, surveys: int) -> Counter[str]:
    """Write transactions committed in the state database by a run purging ``surveys``
    surveys in batches of 10 (read-only ones write nothing to disk), by the thread that
    committed them: ``run`` for the run's own, ``ledger`` for the appends beside it."""
    policy = purge_census(url, directory, surveys=surveys, responses=1, batch_size=10, due=NOW)
    with Lethe.from_file(policy, env={}) as lethe:
        lethe.runtime.state.migrate()
        commits: Counter[str] = Counter()
        run_thread = threading.current_thread()

        def count(conn: Connection) -> None:
            if conn.get_execution_options().get("lethe_write"):
                thread = threading.current_thread()
                ledger = thread is not run_thread and thread.name.startswith("lethe-ledger-")
                commits["ledger" if ledger else "run"] += 1

        event.listen(lethe.runtime.state.engine, "commit", count)
        assert lethe.run(as_of=NOW).errors == ()
        assert lethe.verify_audit().ok
    return commits


def test_each_batch_costs_one_state_commit_on_the_runs_thread(tmp_path: Path) -> None:
    """Ten batches more cost ten state commits more on the run's thread (the intent, after
    the previous batch's append was joined; it was twenty before the events rode on the next
    intent) and ten more on the ledger's, each batch's events in a transaction of their own
    while the next batch works in the store."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ten = _state_commits(f"sqlite:///{tmp_path / 'a' / 'app.db'}", tmp_path / "a", 100)
    twenty = _state_commits(f"sqlite:///{tmp_path / 'b' / 'app.db'}", tmp_path / "b", 200)
    assert twenty["run"] - ten["run"] == 10
    assert twenty["ledger"] - ten["ledger"] == 10
