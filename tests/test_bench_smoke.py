"""The benchmark suite at --scale 0.01: every scenario completes and lethe removes exactly the
rows its baselines remove (the bench exits 1 otherwise). No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.harness import run_child

ROOT = Path(__file__).resolve().parents[1]


def test_every_scenario_completes_and_agrees_with_its_baselines(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "0.01", "--reps", "3", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
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
    } <= scenarios
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
