"""A run on objects or Redis keys killed with SIGKILL mid-run: the next run finishes the work,
and every deleted item has exactly one audit event (recovered when the kill fell between a
batch's deletion and its audit append)."""

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

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.backends import make_backend

#: Items per store: S3 ages come from object metadata, one HEAD each on moto, so fewer.
ITEMS = {"file": 1500, "redis": 1500, "s3": 400}
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)


def _deleted_events(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state, timeout=1) as conn:
            row = conn.execute("SELECT count(*) FROM lethe_events WHERE event = 'hard_deleted'")
            return int(row.fetchone()[0])
    except sqlite3.OperationalError:
        return 0


# The kill lands once the run has recorded this share of its deletions: the first batch's, or
# about a third of them. (A fixed delay after the first event outran the faster stores: the
# file run of 1,500 files finished inside 0.2 s and the kill landed after it.)
@pytest.mark.parametrize("share", [0.0, 0.33])
@pytest.mark.parametrize("name", ["file", "s3", "redis"])  # SQL: test_crash.py
def test_sigkill_mid_run_then_a_clean_rerun(
    name: str, share: float, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    s3 = request.getfixturevalue("s3_endpoint") if name == "s3" else None
    if s3:
        request.getfixturevalue("s3_env")
    redis = request.getfixturevalue("redis_url") if name == "redis" else None
    backend = make_backend(name, tmp_path, s3, redis)
    keys = [backend.key(n) for n in range(ITEMS[name])]
    backend.seed(dict.fromkeys(keys, NOW - timedelta(days=3)))
    policy = tmp_path / "lethe.toml"
    policy.write_text(backend.policy("[limits]\nbatch_size = 20\nbatch_seconds = 0\n"))
    child = subprocess.Popen(
        [sys.executable, "-m", "lethe", "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    state = tmp_path / ".lethe" / "state.db"
    deadline = time.monotonic() + 60
    wanted = max(1, int(share * len(keys)))
    while _deleted_events(state) < wanted and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = backend.keys()
    assert 0 < len(left) < len(keys), "the kill must land mid-run"

    later = ManualClock(datetime.now(UTC) + timedelta(minutes=3))  # past the dead run's lease
    with Lethe.from_file(policy, env=dict(os.environ), clock=later) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.errors == ()
        assert backend.keys() == set()
        events = [e for e in lethe.runtime.ledger.iter_events() if e["event"] == "hard_deleted"]
        assert sorted(e["item_key"] for e in events) == sorted(keys), "one event per item"
        assert lethe.verify_audit().ok
        assert "running" not in {r["status"] for r in lethe.runs(10)}
