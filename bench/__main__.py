"""``python -m bench [--scale S] [--reps N] [--only a,b] [--out DIR]`` (``./run bench`` installs
what it needs first). Prints the machine, then each scenario's medians (min–max) and the ratios
lethe/baseline; writes ``DIR/bench-<time>.jsonl`` and ``.png``. Exits 1 if any contender removed
different rows than lethe or a correctness check failed."""

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
from bench.harness import Measurement, summarise, write_jsonl
from bench.scenarios import sql

Scenario = Callable[[sql.Context], list[Measurement]]

SCENARIOS: dict[str, tuple[Scenario, dict[str, str]]] = {
    "pg-scattered": (lambda c: sql.pg_cascade(c, "scattered"), {}),
    "pg-clustered": (lambda c: sql.pg_cascade(c, "clustered"), {}),
    "sqlite": (sql.sqlite_cascade, {}),
    "scale": (sql.scale, {}),
    "plan": (sql.plan_cost, {}),
    "unindexed-fk": (sql.unindexed_fk, {}),
}
BASELINES = {
    "keyset batches (audited)": "keyset batches",
    "single DELETE (unaudited)": "single DELETE",
    "Django QuerySet.delete": "django QuerySet.delete",
    "Django obj.delete loop": "django obj.delete loop",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the sizes in the README")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (>= 3)")
    parser.add_argument("--only", default="", help=f"comma list of: {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    jsonl = args.out / f"bench-{stamp}.jsonl"
    results: list[Measurement] = []
    with postgres_server(durable=True) as pg, tempfile.TemporaryDirectory() as scratch:
        print(json.dumps(machine.describe(pg), indent=1))
        print(f"scale {args.scale}, {args.reps} interleaved repetitions per contender")
        ctx = sql.Context(args.scale, args.reps, pg, Path(scratch))
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
