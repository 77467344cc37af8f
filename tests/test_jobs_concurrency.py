"""Exactly one run per slot on one PostgreSQL state database: two scheduler processes racing
for the same slots, and concurrent HTTP triggers spread over two servers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from lethe.config import load_file
from lethe.http.app import create_app
from lethe.jobs.runner import JobService
from lethe.schedule.cron import Schedule
from lethe.state.schema import runs, slots
from tests.support.jobs import clear_of_slot_boundary, make_items, write_policy
from tests.support.web import uvicorn_server

REPO = Path(__file__).resolve().parents[1]
TOKEN = "static-token-for-tests-0123456789"
JOBS = """
[[jobs]]
name = "every-minute"
schedule = "* * * * *"
policies = ["purge-items"]
[[jobs]]
name = "also-every-minute"
schedule = "* * * * *"
timezone = "Australia/Sydney"
policies = ["purge-items"]
[[jobs]]
name = "every-other-minute"
schedule = "*/2 * * * *"
timezone = "America/New_York"
policies = ["purge-items"]
"""
EXTRA = f"""
[scheduler]
lease = "1h"
workers = 3
[serve]
bearer_tokens = ["{TOKEN}"]
"""
DAEMON = """
import sys
from datetime import datetime
from lethe.cli.signals import stop_on_signals
from lethe.config import load_file
from lethe.jobs.runner import JobService
from lethe.jobs.scheduler import Scheduler
from lethe.schedule.clock import ScaledClock
clock = ScaledClock(datetime.fromisoformat(sys.argv[2]), rate=120, origin=float(sys.argv[3]))
service = JobService(load_file(sys.argv[1], env={}), clock=clock)
daemon = Scheduler(service)
with stop_on_signals(daemon.shutdown):
    daemon.run()
service.close()
"""


def _wait_for_slots(url: str, jobs: tuple[str, ...], least: int, limit: float = 45) -> None:
    """Until every job has ``least`` slots in the ledger (or ``limit`` seconds passed)."""
    engine = create_engine(url)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                counts = dict(
                    conn.execute(select(slots.c.job, func.count()).group_by(slots.c.job)).all()
                )
            if all(counts.get(job, 0) >= least for job in jobs):
                return
            time.sleep(0.5)
    finally:
        engine.dispose()


def test_two_scheduler_processes_run_each_slot_exactly_once(pg_url: str, tmp_path: Path) -> None:
    make_items(pg_url, 50)
    policy = write_policy(tmp_path, pg_url, JOBS, state_url=pg_url, extra=EXTRA)
    setup = JobService(load_file(policy, env={}))
    setup.state.migrate()  # the first migration is not the race under test
    setup.close()
    start, origin = datetime.now(UTC), time.time() + 1.0  # both start on the same instant
    args = [str(policy), start.isoformat(), str(origin)]
    daemons = [
        subprocess.Popen([sys.executable, "-c", DAEMON, *args], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    # ~16 simulated minutes at 120x; longer when a loaded machine starts the daemons late
    time.sleep(9)
    _wait_for_slots(pg_url, ("every-minute", "also-every-minute", "every-other-minute"), 4)
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err.decode()[-2000:]

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(select(slots).order_by(slots.c.job, slots.c.slot_utc)).mappings().all()
        run_ids = set(conn.execute(select(runs.c.id)).scalars())
        run_count = conn.execute(select(func.count()).select_from(runs)).scalar_one()
    engine.dispose()
    claimed = [r["run_id"] for r in rows if r["run_id"]]
    assert len(claimed) == len(set(claimed)) == run_count == len(run_ids)  # one run per slot
    assert set(claimed) == run_ids
    assert len({r["owner"] for r in rows if r["owner"]}) == 2  # both daemons won some slots
    for job in ("every-minute", "also-every-minute", "every-other-minute"):
        mine = [r for r in rows if r["job"] == job]
        assert len(mine) >= 4, job
        # skipped: a slot came due while the previous run (of either daemon) was in flight
        allowed = {"succeeded", "interrupted", "coalesced", "skipped"}
        assert {r["status"] for r in mine} <= allowed, [
            (r["slot_utc"], r["status"], r["note"]) for r in mine
        ]
        # Every scheduled slot between the first and the last is accounted for, once.
        schedule = load_file(policy, env={}).config.job(job).cron  # type: ignore[union-attr]
        first = mine[0]["covers_from"] or mine[0]["slot_utc"]
        expected = [first]
        expected += list(_until(schedule, first, mine[-1]["slot_utc"]))
        assert sum(r["covers"] for r in mine) == len(expected), job


def _until(schedule: Schedule, start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    for slot in schedule.after(start):
        if slot > end:
            return
        yield slot


def test_concurrent_http_triggers_on_two_servers_start_one_run(pg_url: str, tmp_path: Path) -> None:
    make_items(pg_url, 500)
    policy = write_policy(tmp_path, pg_url, JOBS, state_url=pg_url, extra=EXTRA)
    services = [JobService(load_file(policy, env={})) for _ in range(2)]
    services[0].state.migrate()
    with (
        uvicorn_server(create_app(services[0])) as one,
        uvicorn_server(create_app(services[1])) as two,
    ):

        def trigger(base: str) -> httpx.Response:
            return httpx.post(
                f"{base}/jobs/every-minute/runs",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            )

        clear_of_slot_boundary(1, timedelta(seconds=15))  # all 16 triggers in one minute
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(trigger, [one, two] * 8))
        statuses = sorted(r.json()["status"] for r in replies)
        assert all(r.status_code in (200, 202) for r in replies)
        assert statuses.count("started") == 1, statuses
        assert set(statuses) == {"started", "duplicate"}
        assert len({r.json()["runId"] for r in replies}) == 1
        deadline = time.monotonic() + 60
        while services[0].ledger.history("every-minute")[0].status.in_flight:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    history = services[0].ledger.history("every-minute")
    assert [r.status.value for r in history] == ["succeeded"]
    for service in services:
        service.close()
    assert datetime.now(UTC) - history[0].slot < timedelta(minutes=2)
