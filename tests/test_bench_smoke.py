"""The benchmark suite's smoke run: every scenario and contender once on tiny data, completing,
and lethe removing exactly the rows its baselines remove (the bench exits 1 otherwise). No
timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench import therapy
from bench.harness import COLOCATED, measured, run_child
from sqlalchemy import create_engine

from tests.support.servers import S3_ENV

ROOT = Path(__file__).resolve().parents[1]


def test_every_scenario_completes_and_agrees_with_its_baselines(
    tmp_path: Path, pg_admin_url: str, redis_session_url: str, s3_endpoint: str
) -> None:
    # The session's servers, rather than three more started and stopped for the bench.
    servers = {
        "LETHE_TEST_POSTGRES_URL": pg_admin_url,
        "LETHE_TEST_REDIS_URL": redis_session_url,
        "LETHE_TEST_S3_ENDPOINT": s3_endpoint,
        **S3_ENV,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **servers, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [
        json.loads(line)
        for path in tmp_path.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    scenarios = {r["scenario"].split(" (")[0].split(":")[0] for r in records}
    assert {
        "postgresql cascade purge",
        "sqlite cascade purge",
        "scale",
        "plan cost",
        "files",
        "s3",
        "redis",
        "partition drop",
        "django cascade purge",
    } <= scenarios
    # lethe with its state in the application's database, beside the one with its own SQLite
    # state, against the same baselines (the bench fails the run if its batches wrote intents).
    for purge in ("postgresql cascade purge (scattered)", "sqlite cascade purge (WAL)"):
        ran = {r["contender"] for r in records if r["scenario"] == purge}
        assert {"lethe", COLOCATED, "keyset batches", "single DELETE"} <= ran, (purge, ran)
    drops = {r["contender"] for r in records if r["scenario"] == "partition drop"}
    assert drops == {"lethe", "lethe row path"}, drops
    s3 = [r for r in records if r["scenario"] == "s3" and r["contender"] == "lethe"]
    assert s3 and all(r["extra"]["requests_per_1000_deleted"] for r in s3)
    assert all(r["rows"] > 0 for r in records if r["contender"] != "lethe plan")
    assert list(tmp_path.glob("*.png"))
    assert "unindexed foreign key" in done.stdout and "warns and prints" in done.stdout


def test_a_contender_is_charged_only_its_own_memory() -> None:
    """A child's peak RSS must not include what its parent held when it forked (Linux carries
    that into ``ru_maxrss`` across exec): a small script started by a 300 MB parent is small."""
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page: make it resident
    _, peak, _ = run_child([sys.executable, "-m", "bench.contenders.measure", "platform"])
    del ballast
    assert 1 < peak < 100, peak


def test_a_lethe_contender_finds_its_state_database_created(tmp_path: Path) -> None:
    """A scheduled run finds its state migrated (at deploy, or by its first run): the measured
    process must not migrate it, or its peak RSS carries Alembic and Mako (~9 MB)."""
    app = tmp_path / "app.db"
    engine = create_engine(f"sqlite:///{app}")
    due = therapy.populate(engine, 200, "scattered")
    engine.dispose()
    policy = tmp_path / "lethe.toml"
    policy.write_text(therapy.policy(f"sqlite:///{app}", str(tmp_path)))
    _, _, out = run_child(measured("bench.contenders.lethe_run", str(policy)))
    report = json.loads(out.strip().splitlines()[-1])
    assert report["migrated_in_process"] is False
    assert report["items"] == due
    assert (tmp_path / "state.db").exists()


def test_a_contender_that_migrated_in_process_fails_the_bench() -> None:
    script = "import json; print(json.dumps({'seconds': 1.0, 'migrated_in_process': True}))"
    with pytest.raises(RuntimeError, match="migrated its state database in the measured process"):
        run_child([sys.executable, "-c", script])
