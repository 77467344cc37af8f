"""The DataPilot cleanup job (seed 002) end to end through the command line, with its env vars:
dry run by default, the per-run cap, the minimum-TTL guard, the JSON record per run in the
store, the grants, and `lethe health` going unhealthy 48 hours after the last success."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.apps import EXAMPLES, example_module

DUE_FILES = {"uploads/u1/report.csv", "uploads/u2/data.parquet", "results/j1/summary.json"}
RECORDS = "maintenance/cleaner_runs"


def _lethe(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lethe", "-c", str(tmp_path / "lethe.toml"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


def _files(storage: Path) -> set[str]:
    return {
        str(p.relative_to(storage))
        for p in storage.rglob("*")
        if p.is_file() and not str(p.relative_to(storage)).startswith(RECORDS)
    }


def _records(storage: Path) -> list[dict]:
    folder = storage / RECORDS
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    return [json.loads(f.read_text()) for f in files]


def test_the_datapilot_job_end_to_end(redis_url: str, tmp_path: Path) -> None:
    from redis import Redis

    (tmp_path / "lethe.toml").write_text((EXAMPLES / "datapilot" / "lethe.toml").read_text())
    storage = tmp_path / "storage"
    example_module("datapilot").seed(storage, redis_url, datetime.now(UTC))
    everything = _files(storage)
    env = {"REDIS_URL": redis_url, "LOCAL_STORAGE_ROOT": str(storage)}
    client = Redis.from_url(redis_url, decode_responses=True)
    jobs = set(client.scan_iter(match="*"))

    # 1. CLEANER_DRY_RUN defaults to true: the exact listing, nothing removed, a record kept.
    dry = _lethe(tmp_path, env, "run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert "run.dry_run" in dry.stderr
    result = json.loads(dry.stdout)
    assert result["dryRun"] is True
    assert result["counts"] == {
        "results/,uploads/": {"purge": 3},
        "job:*": {"purge": 2},
    }
    assert [p["unreadable"] for p in result["phases"]] == [0, 2]  # job:4 no field, job:5 bad
    assert _files(storage) == everything and set(client.scan_iter(match="*")) == jobs
    (record,) = _records(storage)
    assert record["dryRun"] is True and record["errors"] == [] and record["completedAt"]
    preview = _lethe(tmp_path, env, "plan", "--json")
    planned = {k for p in json.loads(preview.stdout)["phases"] for k in p["keys"]}
    assert planned == DUE_FILES | {"job:1", "job:2"}

    # 2. For real, capped at CLEANER_MAX_DELETE_BATCH per policy; the next run continues.
    real = {**env, "CLEANER_DRY_RUN": "false", "CLEANER_MAX_DELETE_BATCH": "2"}
    first = _lethe(tmp_path, real, "run", "--json")
    assert first.returncode == 0, first.stderr
    phases = json.loads(first.stdout)["phases"]
    assert [(p["acted"], p["capped"]) for p in phases] == [(2, 1), (2, 0)]
    assert len(_files(storage) & DUE_FILES) == 1
    assert set(client.scan_iter(match="*")) == {"job:3", "job:4", "job:5", "session:abc"}
    second = _lethe(tmp_path, real, "run", "--json")
    assert [p["acted"] for p in json.loads(second.stdout)["phases"]] == [1, 0]
    assert _files(storage) == everything - DUE_FILES
    assert [r["dryRun"] for r in _records(storage)].count(False) == 2

    # 3. A TTL below MIN_TTL_HOURS is refused before anything is listed.
    before = len(_records(storage))
    refused = _lethe(tmp_path, {**real, "JOB_TTL_HOURS": "0", "MIN_TTL_HOURS": "1"}, "run")
    assert refused.returncode == 2
    assert "below min_retain 1h" in refused.stderr and "datasets.blobs.retain" in refused.stderr
    assert len(_records(storage)) == before

    # 4. Health: fine now, unhealthy when the last success is older than 48 hours.
    assert _lethe(tmp_path, env, "health").returncode == 0
    later = (datetime.now(UTC) + timedelta(hours=49)).isoformat()
    stale = _lethe(tmp_path, env, "health", "--as-of", later, "--json")
    assert stale.returncode == 7
    report = json.loads(stale.stdout)
    assert report["status"] == "unhealthy"
    assert all("no successful run within 2d" in p["problems"][0] for p in report["policies"])

    # 5. The least privilege it needs: the prefixes, the audit prefix, the key pattern.
    grants = _lethe(tmp_path, env, "check", "--grants")
    assert grants.returncode == 0, grants.stderr
    assert "list: results/*" in grants.stdout and "delete: uploads/*" in grants.stdout
    assert f"write: {RECORDS}/*" in grants.stdout
    assert "~job:*" in grants.stdout and "+unlink" in grants.stdout
    client.close()
