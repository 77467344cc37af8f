"""Real processes: a job run killed with SIGKILL is reaped after its lease and its slot retried;
SIGTERM ends `lethe tick` and `lethe scheduler` cleanly after the batch in flight; dead-man pings
are sent and never fail a run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lethe.config import load_file
from lethe.jobs.claims import ClaimStatus
from lethe.jobs.runner import JobService
from lethe.schedule.clock import ManualClock
from lethe.schedule.decide import SlotStatus
from lethe.state.runs import RunLog
from tests.support.jobs import clear_of_slot_boundary, make_items, remaining, write_policy
from tests.support.web import Recorder, http_server

REPO = Path(__file__).resolve().parents[1]
ROWS, BATCH = 20_000, 5
JOB = """
[[jobs]]
name = "purge"
schedule = "*/5 * * * *"
policies = ["purge-items"]
retries = 1
backoff = "0s"
"""
LEASE = '\n[scheduler]\nlease = "10s"\n'

FIRE = """
import sys
from lethe.config import load_file
from lethe.jobs.runner import JobService
JobService(load_file(sys.argv[1], env={})).fire("purge", trigger="doomed")
"""


def _big(tmp_path: Path, jobs: str = JOB) -> tuple[Path, str]:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, ROWS)
    # Small batches make a long run to interrupt; the runner that finishes up takes big ones.
    batch = f'"${{BATCH:-{BATCH}}}"'
    return write_policy(tmp_path, app, jobs, extra=LEASE, batch_size=batch), app


def _wait_until_deleting(app: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while remaining(app) == ROWS:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run never started deleting"
        time.sleep(0.05)


def _slot(policy: Path) -> tuple[SlotStatus, int, str | None, str | None]:
    service = JobService(load_file(policy, env={}))
    try:
        row = service.ledger.history("purge")[0]
        return row.status, row.attempt, row.run_id, row.note
    finally:
        service.close()


def test_a_killed_run_is_reaped_after_its_lease_and_its_slot_retried(tmp_path: Path) -> None:
    policy, app = _big(tmp_path)
    clear_of_slot_boundary(5, timedelta(seconds=90))  # the lease-expiry clock stays in this slot
    doomed = subprocess.Popen([sys.executable, "-c", FIRE, str(policy)], cwd=REPO)
    _wait_until_deleting(app, doomed)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(30)
    status, attempt, dead_run, _ = _slot(policy)
    assert (status, attempt) == (SlotStatus.RUNNING, 1)

    # Another runner looks after the lease has run out (its clock, not a sleep, moves on).
    later = ManualClock(datetime.now(UTC) + timedelta(seconds=30))
    service = JobService(load_file(policy, env={"BATCH": "2000"}), clock=later)
    try:
        claim, runs = service.fire("purge", trigger="after the crash")
        assert claim.status is ClaimStatus.STARTED and claim.reason.startswith("retry 1 of 1")
        assert [r.status for r in runs] == [SlotStatus.SUCCEEDED]
        assert RunLog(service.state, None).show(str(dead_run))["status"] == "interrupted"
        row = service.ledger.history("purge")[0]
        assert (row.status, row.attempt, row.run_id) == (SlotStatus.SUCCEEDED, 2, runs[0].run_id)
        with service.state.read() as conn:
            from sqlalchemy import func, select

            from lethe.state.schema import events

            deleted = conn.execute(
                select(func.count(func.distinct(events.c.item_key)), func.count()).where(
                    events.c.event == "hard_deleted"
                )
            ).one()
        assert tuple(deleted) == (ROWS, ROWS)  # every deletion audited exactly once
    finally:
        service.close()
    assert remaining(app) == 0


def _lethe(policy: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lethe", "-c", str(policy), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigterm_lets_tick_finish_its_batch_record_the_run_interrupted_and_exit(
    tmp_path: Path,
) -> None:
    policy, app = _big(tmp_path, JOB.replace("retries = 1", "retries = 0"))
    tick = _lethe(policy, "tick")
    _wait_until_deleting(app, tick)
    tick.send_signal(signal.SIGTERM)
    out, err = tick.communicate(timeout=60)
    assert tick.returncode == 1, err.decode()
    assert b"Traceback" not in err
    assert b"interrupted" in out and b"SIGTERM received" in out
    assert remaining(app) % BATCH == 0  # whole batches only
    status, _, run_id, note = _slot(policy)
    assert status is SlotStatus.INTERRUPTED and "SIGTERM" in (note or "")
    service = JobService(load_file(policy, env={}))
    assert RunLog(service.state, None).show(str(run_id))["status"] == "interrupted"
    service.close()


def test_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    policy, app = _big(tmp_path)
    daemon = _lethe(policy, "scheduler")
    _wait_until_deleting(app, daemon)
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"scheduler stopped" in err
    assert _slot(policy)[0] is SlotStatus.INTERRUPTED


def test_dead_man_pings_mark_start_success_and_failure_and_never_fail_a_run(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    app = f"sqlite:///{tmp_path / 'app.db'}"
    make_items(app, 3)
    with http_server(recorder) as base:
        jobs = f"""
        [[jobs]]
        name = "good"
        schedule = "@hourly"
        policies = ["purge-items"]
        ping = "{base}/ping/good-uuid"
        [[jobs]]
        name = "unreachable"
        schedule = "@hourly"
        policies = ["purge-items"]
        ping = "http://127.0.0.1:9/nobody-listens"
        """
        settings = load_file(write_policy(tmp_path, app, jobs), env={})
        service = JobService(settings)
        # A manual run's slot is its minute: in minute :00 it is the @hourly slot the first
        # fire just ran, and is refused as a duplicate. Keep the whole test out of it.
        now = datetime.now(UTC)
        if now.minute == 0 or (now.minute == 59 and now.second >= 40):
            minute_one = now.replace(minute=0, second=5, microsecond=0) + timedelta(minutes=1)
            if now.minute == 59:
                minute_one += timedelta(hours=1)
            time.sleep((minute_one - now).total_seconds())
        assert service.fire("good", trigger="test")[1][0].status is SlotStatus.SUCCEEDED
        assert service.fire("unreachable", trigger="test")[1][0].status is SlotStatus.SUCCEEDED
        import sqlite3

        with sqlite3.connect(tmp_path / "app.db") as conn:
            conn.execute("DROP TABLE items")
        service.fire("good", trigger="manual", manual=True)
        service.close()
    assert recorder.requests == [
        ("POST", "/ping/good-uuid/start"),
        ("POST", "/ping/good-uuid"),
        ("POST", "/ping/good-uuid/start"),
        ("POST", "/ping/good-uuid/fail"),
    ]


def test_sigterm_ends_a_plain_lethe_run_after_its_batch(tmp_path: Path) -> None:
    policy, app = _big(tmp_path)
    run = _lethe(policy, "run", "--json")
    _wait_until_deleting(app, run)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1 and b"Traceback" not in err
    import json

    document = json.loads(out)
    assert document["status"] == "interrupted"
    assert remaining(app) == ROWS - sum(p["acted"] for p in document["phases"])
