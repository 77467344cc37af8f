"""``python -m bench.report RESULTS.jsonl [...]``: the results as the Markdown tables of the README.

One table per scenario: each contender's median throughput (min–max), time, peak RSS and, on
PostgreSQL, longest transaction and WAL; then lethe's ratio to each baseline. Several files
(e.g. one ``--only`` run per scenario) are read as one.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import LETHE


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def _fixed(values: Sequence[float], digits: int) -> str:
    return f"{_median(values):.{digits}f}" if values else "–"


def table(scenario: str, records: Sequence[dict[str, Any]]) -> list[str]:
    """The Markdown lines of one scenario."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_name.setdefault(r["contender"], []).append(r)
    lines = [
        f"**{scenario}** ({len(next(iter(by_name.values())))} repetitions)",
        "",
        "| contender | rows | rows/s median (min–max) | s | peak RSS MB | longest tx s "
        "| longest writing tx s | WAL MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    medians: dict[str, float] = {}
    for name, rs in by_name.items():
        rate = [r["rows_per_s"] for r in rs]
        medians[name] = _median(rate)
        tx = [r["longest_tx_s"] for r in rs if r.get("longest_tx_s") is not None]
        wal = [r["wal_bytes"] / 2**20 for r in rs if r.get("wal_bytes") is not None]
        write = [r["longest_write_tx_s"] for r in rs if r.get("longest_write_tx_s") is not None]
        lines.append(
            f"| {name} | {int(_median([r['rows'] for r in rs])):,} "
            f"| {medians[name]:,.0f} ({min(rate):,.0f}–{max(rate):,.0f}) "
            f"| {_median([r['seconds'] for r in rs]):.2f} "
            f"| {_number(_median([r['peak_rss_mb'] for r in rs]))} "
            f"| {_fixed(tx, 2)} | {_fixed(write, 2)} | {_fixed(wal, 0)} |"
        )
    for variant in (v for v in LETHE if v in medians):
        ratios = [
            f"{medians[variant] / rate:.2f}× {name}"
            for name, rate in medians.items()
            if name not in (*LETHE, "lethe plan") and rate
        ]
        if ratios:
            lines += ["", f"{variant} / baseline: " + ", ".join(ratios)]
    if "lethe plan" in by_name and "lethe" in by_name:
        plan = _median([r["seconds"] for r in by_name["lethe plan"]])
        run = _median([r["seconds"] for r in by_name["lethe"]])
        lines += ["", f"plan time / run time: {plan / run:.2f}"]
    for name, rs in by_name.items():
        kinds = sorted({kind for r in rs for kind in r.get("extra", {}).get("requests", {})})
        if kinds:
            sent = {k: _median([r["extra"]["requests"].get(k, 0) for r in rs]) for k in kinds}
            listed = _median([r["extra"].get("listed", float("nan")) for r in rs])
            per = _median([r["extra"]["requests_per_1000_deleted"] for r in rs])
            counts = ", ".join(f"{k} {v:g}" for k, v in sent.items())
            lines += [
                "",
                f"{name}: {counts} requests for {listed:,.0f} objects listed "
                f"({per:g} per 1,000 deleted)",
            ]
    return [*lines, ""]


def main(argv: Sequence[str]) -> int:
    records = [
        json.loads(line)
        for path in argv
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if not records:
        print("usage: python -m bench.report RESULTS.jsonl [...]", file=sys.stderr)
        return 2
    for scenario in dict.fromkeys(r["scenario"] for r in records):
        print("\n".join(table(scenario, [r for r in records if r["scenario"] == scenario])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
