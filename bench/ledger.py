"""The audit ledger's cost per batch, alone: ``python -m bench.ledger [--events N] [--batch B]
[--reps R] [--state URL] [--profile]``.

It drives the state database exactly as the executor does for a purge (record the batch's
intent, then settle it with its events: ``BatchLog.prepare`` and ``BatchLog.commit``) for N
``hard_deleted`` events in batches of B, each with the cascade counts of the therapy schema,
then verifies the chain; building the events is outside the timing. Only the public state
interface is used, so the same script measures any revision: ``PYTHONPATH=OTHER/src python -m
bench.ledger`` times another checkout's ledger in the same session (docs/benchmarks.md, "The
audit ledger alone"). The default state database is a fresh SQLite file in WAL mode with
``synchronous=FULL``, as lethe opens it; ``--state`` must name an empty database.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lethe.state.batches import BatchLog
from lethe.state.db import StateDB
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.runs import RunLog

_CASCADE = {"check_ins": 1, "clinical_notes": 1, "crisis_plan": 1, "user_consent": 1}


def _drafts(run_id: str, batch_id: str, first: int, size: int) -> list[EventDraft]:
    return [
        EventDraft(
            run_id=run_id,
            event="hard_deleted",
            policy="profiles",
            dataset="profiles",
            phase=0,
            item_key=str(key),
            batch_id=batch_id,
            details={"action": "purge", "cascade": dict(_CASCADE)},
        )
        for key in range(first, first + size)
    ]


def once(url: str, events: int, batch: int) -> dict[str, float]:
    """One timed pass on a fresh state database: appending, then verifying."""
    state = StateDB(url)
    state.migrate()
    ledger = Ledger(state)
    log = BatchLog(state, ledger)
    run_id = "run-bench"
    now = datetime.now(UTC)
    RunLog(state, None).start(run_id, ["profiles"], False, now, now, timedelta(hours=1))
    batches = []
    for number, first in enumerate(range(1, events + 1, batch)):
        batch_id = f"b-{number:06d}"
        drafts = _drafts(run_id, batch_id, first, min(batch, events + 1 - first))
        batches.append((batch_id, [str(d.item_key) for d in drafts], drafts))
    started, cpu = time.perf_counter(), time.process_time()  # the drafts are the executor's
    for batch_id, keys, drafts in batches:
        log.prepare(batch_id, run_id, "profiles", 0, keys, "hard_deleted", drafts)
        log.commit(batch_id, drafts)
    flush = getattr(log, "flush", None)  # the end of the phase, where batches are deferred
    if flush is not None:
        flush(run_id)
    append_s, append_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    report = ledger.verify()
    verify_s = time.perf_counter() - started
    assert report.ok and report.events == events, report.problems
    state.dispose()
    return {"append_s": append_s, "append_cpu_s": append_cpu, "verify_s": verify_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--state", help="a state database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    args = parser.parse_args()
    figures = []
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.state or f"sqlite:///{Path(tmp) / f'state{rep}.db'}"
            if args.profile and rep == 0:
                profile = cProfile.Profile()
                profile.runcall(once, url, args.events, args.batch)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
                continue
            figures.append(once(url, args.events, args.batch))
    if not figures:  # --profile with --reps 1: the one pass was the profiled one
        return
    summary = {name: round(statistics.median(f[name] for f in figures), 4) for name in figures[0]}
    summary["events_per_s"] = round(args.events / summary["append_s"])
    print(json.dumps({"events": args.events, "batch": args.batch, "reps": len(figures), **summary}))


if __name__ == "__main__":
    main()
