"""Decisions free of I/O: which items a phase acts on, and whether a run may start at all.

The planner and the executor both call these, so a dry run and a real run decide alike;
hypothesis tests them without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from lethe.config.model import BreakerConfig
from lethe.model.keys import ItemKey, key_text
from lethe.stores.base import Item

__all__ = [
    "GROWTH_CEILING",
    "Partition",
    "breaker_verdict",
    "first_run_verdict",
    "next_batch_size",
    "partition",
]


@dataclass(frozen=True)
class Partition:
    """Selected items split by what may happen to them now."""

    act: tuple[ItemKey, ...]
    held: tuple[ItemKey, ...]
    blocked: Mapping[str, str]
    capped: int
    unreadable: tuple[ItemKey, ...] = ()


def partition(
    items: Iterable[Item],
    registry_holds: Set[str],
    blocked: Mapping[str, str],
    cap: int | None,
) -> Partition:
    """Holds first (they beat everything), then unreadable items, guards, the cap, in key order."""
    act: list[ItemKey] = []
    held: list[ItemKey] = []
    unreadable: list[ItemKey] = []
    stopped: dict[str, str] = {}
    capped = 0
    for item in items:
        text = key_text(item.key)
        if item.held or text in registry_holds:
            held.append(item.key)
        elif item.unreadable:
            unreadable.append(item.key)
        elif text in blocked:
            stopped[text] = blocked[text]
        elif cap is not None and len(act) >= cap:
            capped += 1
        else:
            act.append(item.key)
    return Partition(tuple(act), tuple(held), stopped, capped, tuple(unreadable))


def breaker_verdict(
    rows_by_table: Mapping[str, int], table_sizes: Mapping[str, int], breaker: BreakerConfig
) -> str | None:
    """Why the circuit breaker refuses these removals, or None when they may go ahead."""
    if not breaker.enabled:
        return None
    for table, rows in sorted(rows_by_table.items()):
        if rows <= 0:
            continue
        size = table_sizes.get(table, 0)
        percent = 100.0 if size <= 0 else 100.0 * rows / size
        over_rows = rows > breaker.max_rows
        over_percent = percent > breaker.max_percent
        tripped = (
            (over_rows and over_percent) if breaker.mode == "and" else (over_rows or over_percent)
        )
        if tripped:
            return (
                f"would remove {rows} of {size} rows ({percent:.1f} %) from {table}, over the "
                f"circuit breaker (max_rows {breaker.max_rows} {breaker.mode} max_percent "
                f"{breaker.max_percent:g} %)"
            )
    return None


def first_run_verdict(rows_by_table: Mapping[str, int], limit: int) -> str | None:
    """Why a policy's first run may not remove these rows (over ``first_run_max_rows`` in
    one table), or None."""
    for table, rows in sorted(rows_by_table.items()):
        if rows > limit:
            return (
                f"would remove {rows} rows from {table} in the policy's first run, over "
                f"the circuit breaker's first_run_max_rows {limit} (no real run of it has "
                "completed yet)"
            )
    return None


#: Adaptive batches stay between a tenth and this many times ``batch_size``: the ceiling bounds
#: how far one slow moment (a checkpoint's fsync) can stretch a batch's row locks, at some cost in
#: throughput (the 1M all-due benchmark runs ~20 % slower than with 10x).
GROWTH_CEILING = 4


def next_batch_size(
    size: int, base: int, target_seconds: float, locked: int, seconds: float
) -> int:
    """The next batch's size, aiming at a transaction of ``target_seconds``.

    Lock time grows linearly with the batch while throughput barely does, so lethe aims at a
    transaction time rather than a count. A batch that was not full (the end of the data, or
    locked rows skipped) or an unmeasured one says nothing about speed: the size stays. A slow
    batch shrinks the next one at once, a fast one grows it halfway (geometrically) toward the
    size it suggests, so a long lock is corrected in one step and a lucky batch does not
    overshoot. The result stays within ``base // 10`` and ``base * GROWTH_CEILING``.
    """
    if target_seconds <= 0 or locked < size or seconds <= 0:
        return size
    suggested = size * target_seconds / seconds
    wanted = suggested if suggested < size else (size * suggested) ** 0.5
    low, high = max(1, base // 10), base * GROWTH_CEILING
    return round(min(high, max(low, wanted)))
