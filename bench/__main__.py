"""``python -m bench [--scale S] [--reps N] [--only a,b] [--out DIR] [--smoke]`` (``./run bench``
installs what it needs first). Prints the machine, then each scenario's medians (min–max) and the
ratios lethe/baseline; writes ``DIR/bench-<time>.jsonl`` and ``.png``. Exits 1 if any contender
removed different rows than lethe or a correctness check failed. ``--smoke`` (the test suite's):
every scenario and contender once, on tiny data, on a PostgreSQL server without fsync: it proves
the scenarios run and agree, and measures nothing."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.postgres import postgres_server

from bench import machine
from bench.chart import draw
from bench.harness import Measurement, byte_compile, summarise, write_jsonl
from bench.scenarios import django_path, listed, partitions, sql

Scenario = Callable[[sql.Context], list[Measurement]]

SCENARIOS: dict[str, tuple[Scenario, dict[str, str]]] = {
    "pg-scattered": (lambda c: sql.pg_cascade(c, "scattered"), {}),
    "pg-clustered": (lambda c: sql.pg_cascade(c, "clustered"), {}),
    "sqlite": (sql.sqlite_cascade, {}),
    "scale": (sql.scale, {}),
    "plan": (sql.plan_cost, {}),
    "unindexed-fk": (sql.unindexed_fk, {}),
    "django": (django_path.django_cascade, {}),
    "partitions": (partitions.partition_drop, {}),
    "files": (listed.files, {}),
    "s3": (listed.s3, {}),
    "redis": (listed.redis, {}),
}
BASELINES = {
    "keyset batches (audited)": "keyset batches",
    "single DELETE (unaudited)": "single DELETE",
    "Django QuerySet.delete": "django QuerySet.delete",
    "Django obj.delete loop": "django obj.delete loop",
    "find -delete": "find -delete",
    "per-object S3 loop": "per-object loop",
    "pipelined SCAN+HGET+UNLINK": "pipelined SCAN+HGET+UNLINK",
    "scan_iter+HGET+DEL loop": "scan_iter+HGET+DEL",
    "its own row path": "lethe row path",
    "its plain SQL path": "lethe SQL path",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the sizes in the README")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (>= 3)")
    parser.add_argument("--only", default="", help=f"comma list of: {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--smoke", action="store_true", help="once each, tiny data; no figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps = 1
    elif args.reps < 3:
        parser.error("--reps must be at least 3 (a median of fewer hides the noise)")
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    jsonl = args.out / f"bench-{stamp}.jsonl"
    results: list[Measurement] = []
    byte_compile()
    server = postgres_server(durable=not args.smoke)
    with server as pg, tempfile.TemporaryDirectory() as scratch:
        print(json.dumps(machine.describe(pg), indent=1))
        if args.smoke:
            print("smoke run: every scenario once on tiny data; the figures mean nothing")
        else:
            print(f"scale {args.scale}, {args.reps} interleaved repetitions per contender")
        ctx = sql.Context(args.scale, args.reps, pg, Path(scratch), smoke=args.smoke)
        for name in chosen:
            scenario, _ = SCENARIOS[name]
            measured = scenario(ctx)
            write_jsonl(jsonl, measured, args.scale)
            for scenario_name in dict.fromkeys(m.scenario for m in measured):
                print(f"\n{scenario_name}")
                subset = [m for m in measured if m.scenario == scenario_name]
                print("\n".join(summarise(subset, BASELINES)))
            results.extend(measured)
    if results:
        draw(results, jsonl.with_suffix(".png"))
        print(f"\nresults: {jsonl} and {jsonl.with_suffix('.png')}")
    for failure in ctx.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if ctx.failures else 0


if __name__ == "__main__":
    sys.exit(main())
