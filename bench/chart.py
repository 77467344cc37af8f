"""The PNG chart: throughput and peak memory against data size, plus ratios to baselines."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from bench.harness import Measurement


def draw(results: Sequence[Measurement], path: Path) -> None:
    """Write the chart for whatever scenarios ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (speed, memory, bars) = plt.subplots(1, 3, figsize=(16, 4.5))
    scale = [m for m in results if m.scenario.startswith("scale:")]
    sizes = sorted({m.extra["parents"] for m in scale})
    if sizes:
        by_size = {n: [m for m in scale if m.extra["parents"] == n] for n in sizes}
        speed.plot(
            sizes,
            [statistics.median(m.rows_per_s for m in by_size[n]) for n in sizes],
            marker="o",
            label="lethe",
        )
        memory.plot(
            sizes,
            [statistics.median(m.peak_rss_mb for m in by_size[n]) for n in sizes],
            marker="o",
            label="lethe",
        )
        for axis in (speed, memory):
            axis.set_xscale("log")
            axis.set_xlabel("due parents (each with 5 child rows)")
            axis.legend()
    speed.set_ylabel("rows deleted per second")
    speed.set_title("PostgreSQL cascade purge: throughput")
    memory.set_ylabel("peak RSS (MB)")
    memory.set_title("peak memory")
    memory.set_ylim(bottom=0)
    cascade = [m for m in results if "cascade purge" in m.scenario]
    labels, values = [], []
    for scenario in sorted({m.scenario for m in cascade}):
        runs = [m for m in cascade if m.scenario == scenario]
        for name in sorted({m.contender for m in runs}):
            labels.append(f"{scenario.split(' (')[0].split()[0]} {name}"[:34])
            values.append(statistics.median(m.rows_per_s for m in runs if m.contender == name))
    bars.barh(labels, values)
    bars.set_xlabel("rows deleted per second (median)")
    bars.set_title("lethe and baselines")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
