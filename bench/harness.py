"""Running contenders in child processes, measuring them, summarising interleaved repetitions."""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
#: lethe with its state in the application's own database (``[state] url`` = the store's), run
#: beside plain "lethe" (state in a SQLite file of its own) against the same baselines.
COLOCATED = "lethe, state in app DB"
#: The contenders that are lethe itself: each gets its ratio to every baseline.
LETHE = ("lethe", COLOCATED)


@dataclass
class Measurement:
    """One contender, one repetition."""

    scenario: str
    contender: str
    rep: int
    seconds: float
    rows: int
    peak_rss_mb: float
    longest_tx_s: float | None = None
    wal_bytes: int | None = None
    #: The longest transaction that wrote or locked rows (had a transaction id): the one
    #: that can block the application. Read-only ones (a count) only hold a snapshot.
    longest_write_tx_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def record(self, scale: float) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": round(self.rows_per_s, 1), "scale": scale}


class TransactionSampler:
    """Samples the age of the oldest open transaction in one PostgreSQL database every 10 ms,
    and of the oldest one holding a transaction id (it wrote or locked rows).

    Client backends only: an autovacuum worker's ANALYZE of a table the contender just emptied
    runs for seconds and takes an xid when it writes its statistics, which is the server's
    work, not a lock the contender held (it showed up as a 1.8 s "writing" transaction)."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.database = database
        self.longest = 0.0
        self.longest_write = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        age = "extract(epoch FROM clock_timestamp() - xact_start)"
        query = text(
            f"SELECT coalesce(max({age}), 0), "
            f"coalesce(max({age}) FILTER (WHERE backend_xid IS NOT NULL), 0) "
            "FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' "
            "AND xact_start IS NOT NULL AND state <> 'idle'"
        )
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                oldest, writing = conn.execute(query, {"db": self.database}).one()
                self.longest = max(self.longest, float(oldest))
                self.longest_write = max(self.longest_write, float(writing))
                time.sleep(0.01)

    def __enter__(self) -> TransactionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def wal_lsn(admin_url: str) -> int:
    """The server's current WAL position, in bytes."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def byte_compile() -> None:
    """Byte-compile the modules the contenders import from this checkout (lethe's and the
    bench's), as installing a package does. A child would otherwise compile every one it imports
    from source inside its clock, each run anew, wherever ``PYTHONDONTWRITEBYTECODE`` is set (as
    in CI): ~0.04 s of a lethe run, most of it lethe's SQL store modules, imported on binding."""
    for package in (ROOT / "src" / "lethe", ROOT / "bench"):
        compileall.compile_dir(package, quiet=2)


def run_child(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a contender (through :mod:`bench.contenders.measure`); return (wall seconds, peak RSS
    in MB, its stdout). A lethe contender that migrated its state database in the measured
    process fails the bench: its figures would not be a scheduled run's (contenders/prepare.py)."""
    started = time.perf_counter()
    child = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", **(env or {})},
    )
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[2:5])} failed ({child.returncode}):\n{child.stderr[-3000:]}"
        )
    if _last_json(child.stdout).get("migrated_in_process"):
        raise RuntimeError(
            f"{' '.join(argv[2:5])} migrated its state database in the measured process "
            "(create it before, with bench.contenders.prepare.migrate_apart)"
        )
    return seconds, _peak_rss_from(child.stderr), child.stdout


def _last_json(stdout: str) -> dict[str, object]:
    """A contender's report: the JSON object on its last line ({} when there is none)."""
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def _peak_rss_from(stderr: str) -> float:
    """The wrapper prints the child's peak RSS (MB) as a stderr line: ``peak_rss_mb=12.3``."""
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("peak_rss_mb="):
            return float(line.split("=", 1)[1])
    return float("nan")


def measured(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` under the peak-RSS wrapper."""
    return [sys.executable, "-m", "bench.contenders.measure", module, *args]


def interleave(
    contenders: Sequence[str], reps: int, once: Callable[[str, int], Measurement]
) -> list[Measurement]:
    """A B C A B C …: every contender runs once per repetition, in turn."""
    results = []
    for rep in range(reps):
        for name in contenders:
            results.append(once(name, rep))
    return results


def summarise(results: Sequence[Measurement], baselines: dict[str, str]) -> list[str]:
    """Lines with medians (min–max) per contender and lethe/baseline throughput ratios."""
    lines: list[str] = []
    by_name: dict[str, list[Measurement]] = {}
    for m in results:
        by_name.setdefault(m.contender, []).append(m)
    medians = {name: statistics.median(m.rows_per_s for m in ms) for name, ms in by_name.items()}
    for name, ms in by_name.items():
        rps = [m.rows_per_s for m in ms]
        rss = [m.peak_rss_mb for m in ms]
        tx = [m.longest_tx_s for m in ms if m.longest_tx_s is not None]
        write = [m.longest_write_tx_s for m in ms if m.longest_write_tx_s is not None]
        wal = [m.wal_bytes for m in ms if m.wal_bytes is not None]
        secs = [m.seconds for m in ms]
        line = (
            f"  {name:<24} {statistics.median(rps):>10,.0f} rows/s ({min(rps):,.0f}–"
            f"{max(rps):,.0f})  {statistics.median(secs):7.2f} s  "
            f"peak RSS {statistics.median(rss):6.1f} MB"
        )
        if tx:
            line += f"  longest tx {statistics.median(tx):6.2f} s ({min(tx):.2f}–{max(tx):.2f})"
        if write:
            line += f"  longest writing tx {statistics.median(write):6.2f} s"
        if wal:
            line += f"  WAL {statistics.median(wal) / 2**20:7.1f} MB"
        lines.append(line)
    for variant in (v for v in LETHE if v in medians):
        for label, baseline in baselines.items():
            if medians.get(baseline):
                ratio = medians[variant] / medians[baseline]
                lines.append(f"  ratio {variant} / {label:<22} {ratio:5.2f}x")
    if "lethe plan" in by_name and "lethe" in by_name:
        plan = statistics.median(m.seconds for m in by_name["lethe plan"])
        run = statistics.median(m.seconds for m in by_name["lethe"])
        lines.append(f"  plan time / run time            {plan / run:5.2f}")
    return lines


def write_jsonl(path: Path, results: Sequence[Measurement], scale: float) -> None:
    """Append the measurements to a JSON-lines file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for m in results:
            out.write(json.dumps(m.record(scale)) + "\n")
