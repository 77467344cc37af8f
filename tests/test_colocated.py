"""lethe's state in the application's own database: each batch writes its audit in the
store's transaction (one commit, no intent), on SQLite (the same file) and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from lethe import Lethe
from lethe.engine.executor import BatchReport
from lethe.errors import LeaseLostError
from lethe.testing import ManualClock
from tests.support.apps import NOW
from tests.support.crash import purge_census

SURVEYS = 400
BATCH = 25
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("pg_url"))


def _colocated(url: str, directory: Path, surveys: int = SURVEYS) -> Path:
    policy = purge_census(url, directory, surveys=surveys, responses=3, batch_size=BATCH, due=NOW)
    with policy.open("a") as out:
        out.write(f'\n[state]\nurl = "{url}"\n')
    return policy


def _query(url: str, sql: str) -> list[Any]:
    engine = create_engine(url, connect_args={"timeout": 1} if url.startswith("sqlite") else {})
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def _surveys(url: str) -> set[str]:
    return {str(r[0]) for r in _query(url, "SELECT id FROM surveys_survey")}


def _deleted_events(url: str) -> list[str]:
    try:
        rows = _query(url, "SELECT item_key FROM lethe_events WHERE event = 'hard_deleted'")
    except Exception:  # the tables are created by the run: none yet
        return []
    return [str(r[0]) for r in rows]


def _audit_matches_rows(url: str, surveys: int = SURVEYS) -> None:
    """Every survey gone has exactly one hard_deleted event, and every event's survey is gone."""
    deleted = _deleted_events(url)
    gone = {str(i) for i in range(1, surveys + 1)} - _surveys(url)
    assert sorted(deleted, key=int) == sorted(gone, key=int)
    per_survey = _query(
        url, "SELECT survey_id, count(*) FROM surveys_surveyresponse GROUP BY survey_id"
    )
    assert {str(s) for s, _ in per_survey} <= _surveys(url), "responses survive their survey"
    assert all(n == 3 for _, n in per_survey), "half-deleted survey"


def _later() -> ManualClock:
    return ManualClock(datetime.now(UTC) + timedelta(minutes=3))


def _comparable(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (e["event"], e["dataset"], e["policy"], e["phase"], e["item_key"], json.dumps(e["details"]))
        for e in events
        if e["item_key"] is not None
    )


def test_a_colocated_run_audits_every_item_as_the_separate_state_does(
    db_url: str, tmp_path: Path
) -> None:
    policy = _colocated(db_url, tmp_path)
    with Lethe.from_file(policy, env={}) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.errors == ()
        colocated = list(lethe.runtime.ledger.iter_events())
        assert lethe.verify_audit().ok
    # One commit per batch and no intent: no batch row at all, the events in the app's database.
    assert _query(db_url, "SELECT count(*) FROM lethe_batches")[0][0] == 0
    _audit_matches_rows(db_url)
    assert _surveys(db_url) == set()

    (tmp_path / "separate").mkdir()
    separate_url = f"sqlite:///{tmp_path / 'separate' / 'app.db'}"
    separate = purge_census(
        separate_url, tmp_path / "separate", surveys=SURVEYS, responses=3, batch_size=BATCH, due=NOW
    )
    with Lethe.from_file(separate, env={}) as lethe:
        assert lethe.run(as_of=NOW).errors == ()
        expected = list(lethe.runtime.ledger.iter_events())
    assert _comparable(colocated) == _comparable(expected)
    assert len([e for e in colocated if e["event"] == "hard_deleted"]) == SURVEYS

    cli = subprocess.run(
        [sys.executable, "-m", "lethe", "-c", str(policy), "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr


def _run_and_kill(policy: Path, url: str, cwd: Path, delay: float) -> None:
    """Start a run, and SIGKILL it ``delay`` seconds after its first deletion is visible."""
    child = subprocess.Popen(
        [sys.executable, "-m", "lethe", "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    deadline = time.monotonic() + 60
    while not _deleted_events(url) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_at_a_random_moment_leaves_rows_and_audit_agreeing(
    db_url: str, tmp_path: Path, delay: float
) -> None:
    surveys = 3000
    policy = _colocated(db_url, tmp_path, surveys)
    _run_and_kill(policy, db_url, tmp_path, delay)
    # On a loaded machine the poll can miss the whole run (the kill then lands after it); on
    # SQLite, where a fresh database is a new file, the experiment is repeated, up to twice.
    for attempt in range(2):
        if _surveys(db_url) or not db_url.startswith("sqlite"):
            break
        tmp_path = tmp_path / f"again{attempt}"
        tmp_path.mkdir()
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        policy = _colocated(db_url, tmp_path, surveys)
        _run_and_kill(policy, db_url, tmp_path, delay)
    remaining = _surveys(db_url)
    assert 0 < len(remaining) < surveys, "the kill must land mid-run"
    _audit_matches_rows(db_url, surveys)
    assert _query(db_url, "SELECT count(*) FROM lethe_batches WHERE status = 'pending'")[0][0] == 0
    with Lethe.from_file(policy, env={}, clock=_later()) as lethe:
        assert lethe.run(as_of=NOW).errors == ()
        assert lethe.verify_audit().ok
    assert _surveys(db_url) == set()
    _audit_matches_rows(db_url, surveys)


_KILL_AFTER_RECORD = """
import os, signal, sys
from lethe.state.batches import BatchLog
from lethe.cli.app import main

calls = {"n": 0}
original = BatchLog.record

def record_then_die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    calls["n"] += 1
    if calls["n"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)

BatchLog.record = record_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_after_the_audit_is_written_loses_it_with_the_batch(
    db_url: str, tmp_path: Path
) -> None:
    """Killed after the third batch's events were written, before its commit: the events
    and the deletion roll back together, and nothing is left to settle."""
    policy = _colocated(db_url, tmp_path)
    script = tmp_path / "killer.py"
    script.write_text(_KILL_AFTER_RECORD)
    child = subprocess.run(
        [sys.executable, str(script), "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(_surveys(db_url)) == SURVEYS - 2 * BATCH
    _audit_matches_rows(db_url)
    with Lethe.from_file(policy, env={}, clock=_later()) as lethe:
        assert lethe.run(as_of=NOW).errors == ()
        assert lethe.verify_audit().ok
        recovered = [e for e in lethe.runtime.ledger.iter_events() if e["details"].get("recovered")]
        assert recovered == []
    _audit_matches_rows(db_url)


def test_a_lease_lost_mid_run_rolls_its_batch_back(db_url: str, tmp_path: Path) -> None:
    policy = _colocated(db_url, tmp_path)
    reaper = create_engine(db_url)

    def reap_after_two(report: BatchReport) -> None:
        if len(_deleted_events(db_url)) == 2 * BATCH:  # another process took the run for dead
            with reaper.begin() as conn:
                conn.execute(text("UPDATE lethe_runs SET status = 'interrupted'"))

    try:
        with Lethe.from_file(policy, env={}) as lethe, pytest.raises(LeaseLostError):
            lethe.run(as_of=NOW, progress=reap_after_two)
    finally:
        reaper.dispose()
    assert len(_surveys(db_url)) == SURVEYS - 2 * BATCH
    _audit_matches_rows(db_url)


def test_holds_are_honoured(db_url: str, tmp_path: Path) -> None:
    policy = _colocated(db_url, tmp_path, surveys=60)
    with Lethe.from_file(policy, env={}) as lethe:
        lethe.place_hold("surveys", "7", "litigation", "legal@example.org")
        assert lethe.run(as_of=NOW).errors == ()
        held = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "skipped_hold"]
        assert [e["item_key"] for e in held] == ["7"]
        assert lethe.verify_audit().ok
    assert _surveys(db_url) == {"7"}
    _audit_matches_rows(db_url, 60)
    assert _query(db_url, "SELECT count(*) FROM lethe_batches")[0][0] == 0
