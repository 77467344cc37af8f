"""A run killed with SIGKILL leaves no half-deleted item, and the next run finishes the work
with every deletion audited exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import NOW, example_module
from tests.support.crash import purge_census

SURVEYS = 3000
RESPONSES_EACH = 3
REPO = Path(__file__).resolve().parents[1]


def _setup(url: str, tmp_path: Path) -> Path:
    return purge_census(
        url, tmp_path, surveys=SURVEYS, responses=RESPONSES_EACH, batch_size=25, due=NOW
    )


def _intact(url: str) -> int:
    """Check no survey lost only some responses; return how many surveys remain."""
    census = example_module("census")
    engine = create_engine(url)
    with engine.connect() as conn:
        per_survey = dict(
            conn.execute(
                select(census.responses.c.survey_id, func.count()).group_by(
                    census.responses.c.survey_id
                )
            ).all()
        )
        remaining = set(conn.execute(select(census.surveys.c.id)).scalars())
    engine.dispose()
    assert set(per_survey) <= remaining, "responses survive their survey"
    assert all(per_survey.get(s, 0) == RESPONSES_EACH for s in remaining), "half-deleted survey"
    return len(remaining)


def _events(tmp_path: Path) -> int:
    db = tmp_path / ".lethe" / "state.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM lethe_events WHERE event = 'hard_deleted'"
                ).fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0


def _later() -> ManualClock:
    """A clock past the killed run's lease (2 minutes): only then is it taken for dead."""
    return ManualClock(datetime.now(UTC) + timedelta(minutes=3))


def _finish_and_audit(policy: Path, url: str) -> None:
    with Lethe.from_file(policy, env={}, clock=_later()) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.errors == ()
        assert _intact(url) == 0
        deleted = [
            e["item_key"]
            for e in lethe.runtime.ledger.iter_events()
            if e["event"] == "hard_deleted"
        ]
        assert sorted(deleted, key=int) == [str(i) for i in range(1, SURVEYS + 1)], (
            "every deleted survey must have exactly one hard_deleted event"
        )
        assert lethe.verify_audit().ok
        statuses = {r["status"] for r in lethe.runs(50)}
        assert "running" not in statuses


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3])
def test_sigkill_at_a_random_moment(app_url: str, tmp_path: Path, delay: float) -> None:
    policy = _setup(app_url, tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "lethe", "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while _events(tmp_path) == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    remaining = _intact(app_url)
    assert 0 < remaining < SURVEYS, "the kill must land mid-run"
    _finish_and_audit(policy, app_url)


# Kill the process at the worst moments around the store commit, deterministically: a
# wrapper replaces one step of the batch protocol by "do the step, then SIGKILL yourself".
_KILLER = """
import os, signal, sys
from lethe.state.batches import BatchLog
from lethe.cli.app import main

calls = {{"n": 0}}
original = BatchLog.{method}

def step_then_die(self, *args, **kwargs):
    calls["n"] += 1
    if calls["n"] == 3 and {before}:
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(self, *args, **kwargs)
    if calls["n"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

BatchLog.{method} = step_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "method",
    [
        "prepare",  # intent recorded, store transaction not committed: the batch never happened
        "commit",  # store committed and audit appended, killed right after
    ],
)
def test_sigkill_around_the_store_commit_is_recovered(
    app_url: str, tmp_path: Path, method: str
) -> None:
    policy = _setup(app_url, tmp_path)
    script = tmp_path / "killer.py"
    script.write_text(_KILLER.format(method=method, before=False))
    child = subprocess.run(
        [sys.executable, str(script), "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL
    remaining = _intact(app_url)
    expected = SURVEYS - 2 * 25 if method == "prepare" else SURVEYS - 3 * 25
    assert remaining == expected
    _finish_and_audit(policy, app_url)


def test_a_commit_whose_audit_append_was_lost_is_recovered(app_url: str, tmp_path: Path) -> None:
    """Store committed, then the process died before the ledger append: the next run appends
    the batch's events, marked recovered."""
    policy = _setup(app_url, tmp_path)
    script = tmp_path / "killer.py"
    script.write_text(_KILLER.format(method="commit", before=True))
    child = subprocess.run(
        [sys.executable, str(script), "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL
    assert _intact(app_url) == SURVEYS - 3 * 25  # the third batch committed in the store
    assert _events(tmp_path) == 2 * 25  # but only two batches reached the ledger
    _finish_and_audit(policy, app_url)
    with Lethe.from_file(policy, env={}, clock=_later()) as lethe:
        recovered = [
            e
            for e in lethe.runtime.ledger.iter_events()
            if e["event"] == "hard_deleted" and e["details"].get("recovered")
        ]
        assert len(recovered) == 25
