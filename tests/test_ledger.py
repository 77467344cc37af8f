"""The hash-chained audit ledger detects every edit, removal and insertion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from lethe import Lethe
from tests.support.apps import NOW, example_lethe, seeded


@pytest.fixture
def audited(sqlite_url: str, tmp_path: Path) -> Lethe:
    seeded("census", sqlite_url)
    lethe = example_lethe("census", sqlite_url, tmp_path)
    lethe.run(as_of=NOW)
    lethe.holds.add("surveys", "6", "audit", "dpo")
    assert lethe.verify_audit().ok
    return lethe


def _tamper(lethe: Lethe, change: Callable[[Connection], object]) -> list[str]:
    with lethe.runtime.state.engine.begin() as conn:
        change(conn)
    report = lethe.verify_audit()
    lethe.close()
    return list(report.problems)


def test_an_intact_chain_verifies_and_covers_every_event(audited: Lethe) -> None:
    report = audited.verify_audit()
    events = list(audited.runtime.ledger.iter_events())
    assert report.events == len(events) == 7  # 1 soft, 2 hard, 2 held, run, hold placed
    assert report.head == events[-1]["hash"]
    audited.close()


def test_editing_an_event_is_detected(audited: Lethe) -> None:
    problems = _tamper(
        audited, lambda c: c.execute(text("UPDATE lethe_events SET item_key = '99' WHERE seq = 2"))
    )
    assert problems == ["event 2 was altered (hash mismatch)"]


def test_editing_details_and_rehashing_one_event_breaks_the_next_link(audited: Lethe) -> None:
    def forge(conn: Connection) -> None:
        # Change the first hex digit (whatever it was: a hash may start with 'f' already).
        conn.execute(
            text(
                "UPDATE lethe_events SET hash = CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' "
                "ELSE 'f' END || substr(hash, 2) WHERE seq = 3"
            )
        )

    problems = _tamper(audited, forge)
    assert "event 3 was altered (hash mismatch)" in problems
    assert "event 4 does not follow the event before it" in problems


def test_removing_an_event_in_the_middle_is_detected(audited: Lethe) -> None:
    problems = _tamper(audited, lambda c: c.execute(text("DELETE FROM lethe_events WHERE seq = 4")))
    assert "event 4 is missing (next stored is 5)" in problems


def test_removing_the_newest_events_is_detected_by_the_head(audited: Lethe) -> None:
    problems = _tamper(audited, lambda c: c.execute(text("DELETE FROM lethe_events WHERE seq = 7")))
    assert any("events were removed or the head was edited" in p for p in problems)


def test_inserting_a_forged_event_is_detected(audited: Lethe) -> None:
    def insert(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO lethe_events (seq, ts, run_id, event, details, prev_hash, hash) "
                "SELECT 8, ts, run_id, 'hard_deleted', '{}', hash, hash "
                "FROM lethe_events WHERE seq = 7"
            )
        )

    problems = _tamper(audited, insert)
    assert "event 8 was altered (hash mismatch)" in problems


def test_run_records_carry_the_chain_head(audited: Lethe) -> None:
    record = audited.run_record(audited.runs(1)[0]["runId"])
    events = list(audited.runtime.ledger.iter_events())
    run_finished = next(e for e in events if e["event"] == "run_finished")
    assert record["auditHead"] == {"seq": run_finished["seq"], "hash": run_finished["hash"]}
    audited.close()


def test_replicas_starting_together_on_a_fresh_state_database_migrate_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Eight processes open one empty PostgreSQL state database at the same moment."""
    import subprocess
    import sys

    script = (
        "import sys; from lethe.state.db import StateDB; "
        "db = StateDB(sys.argv[1]); db.migrate(); db.dispose()"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script, pg_url], stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    errors = [child.communicate()[1].decode() for child in children]
    assert [child.returncode for child in children] == [0] * 8, errors
    from lethe.state.db import StateDB

    state = StateDB(pg_url)
    try:
        from lethe.state.ledger import Ledger

        assert Ledger(state).verify().ok
    finally:
        state.dispose()
