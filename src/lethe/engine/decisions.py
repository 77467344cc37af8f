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

__all__ = ["Partition", "breaker_verdict", "partition"]


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
