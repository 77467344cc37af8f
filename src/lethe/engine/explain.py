"""``lethe explain DATASET KEY``: when will this item go, by which policy, and what blocks it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from lethe.engine.partition_drops import PartitionDropper
from lethe.engine.runtime import Runtime, Target
from lethe.holds.registry import Hold
from lethe.model.conditions import (
    All,
    Condition,
    In,
    Unreadable,
    columns_of,
    describe,
    evaluate,
    explain_failures,
)
from lethe.model.keys import key_text
from lethe.state.deliveries import Delivery, DeliveryLedger

__all__ = ["Explanation", "PhaseVerdict", "explain"]

# How far ahead "when will it go" looks; beyond that an item is reported as never selected.
_HORIZON = timedelta(days=366 * 100)


@dataclass(frozen=True)
class PhaseVerdict:
    """One phase's answer for one item."""

    policy: str
    phase: int
    action: str
    selected_now: bool
    from_instant: datetime | None
    unmet: tuple[str, ...]
    #: Why another phase holds it back now (a deletion waiting for its warning).
    waits_for: str | None = None
    #: The partition it would be dropped with, whole, by a run now (docs/partitions.md).
    partition: str | None = None


@dataclass(frozen=True)
class Explanation:
    """Everything lethe knows about one item."""

    dataset: str
    key: str
    exists: bool
    row: dict[str, Any]
    verdicts: tuple[PhaseVerdict, ...]
    registry_holds: tuple[Hold, ...]
    held_by_table: bool
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    #: Deletion warnings claimed or delivered for this item (the delivery ledger).
    warnings: tuple[Delivery, ...] = field(default_factory=tuple)

    @property
    def blocked(self) -> bool:
        return bool(self.registry_holds) or self.held_by_table


def first_selected(
    build: Callable[[datetime], Condition], row: dict[str, Any], start: datetime
) -> datetime | None:
    """The first instant from ``start`` at which ``build(instant)`` selects ``row``.

    Due conditions only ever become true as time passes, so a binary search (to the
    millisecond) finds the instant; a condition still false at the horizon never selects.
    """
    if evaluate(build(start), row):
        return start
    high = start + _HORIZON
    if not evaluate(build(high), row):
        return None
    low = start
    while high - low > timedelta(milliseconds=1):
        middle = low + (high - low) / 2
        if evaluate(build(middle), row):
            high = middle
        else:
            low = middle
    # Due instants are whole seconds (or milliseconds) in practice: report the round one the
    # search bracketed rather than a point a few hundred microseconds past it.
    for rounded in (
        high.replace(microsecond=0),
        high.replace(microsecond=high.microsecond // 1000 * 1000),
    ):
        if rounded > low and evaluate(build(rounded), row):
            return rounded
    return high


def _unmet(selection: Condition, row: dict[str, Any]) -> tuple[str, ...]:
    """What keeps ``row`` from being selected; an unreadable date first, since nothing else
    matters until it is fixed."""
    bad = [
        f"{name} to hold a readable date (it holds {value.unreadable}: never due until fixed)"
        for name in sorted(columns_of(selection))
        if isinstance(value := row.get(name), Unreadable)
    ]
    return (*bad, *(describe(c) for c in explain_failures(selection, row)))


def _verdicts(
    rt: Runtime, target: Target, key: Any, row: dict[str, Any], as_of: datetime
) -> list[PhaseVerdict]:
    verdicts = []
    for index, action in enumerate(target.actions):
        selection = target.selection(index, as_of)
        now = evaluate(selection, row)
        when = first_selected(partial(target.selection, index), row, as_of)
        unmet = () if now else _unmet(selection, row)
        waits = target.blocked(index, [key], as_of).get(key_text(key)) if now else None
        if now and waits is None and action.cascades:
            # A referencing row the schema protects keeps it (judged as a batch of one).
            preview = target.handle.preview_delete([key], batch_size=1, held=target.held_keys)
            waits = preview.blocked.get(key_text(key))
        whole = None
        if now and waits is None and action.destructive:
            cap = target.settings.config.max_deletions(target.policy)
            whole = PartitionDropper(rt, target, index, selection).going_with(key, cap)
        verdicts.append(
            PhaseVerdict(target.policy, index, action.type, now, when, unmet, waits, whole)
        )
    return verdicts


def explain(rt: Runtime, dataset: str, typed: str, as_of: datetime | None = None) -> Explanation:
    """Answer for one item of ``dataset`` (its key as typed: ``17``, ``[3,17]``), evaluated at
    ``as_of`` (default: now)."""
    as_of = as_of or rt.state.now()
    handle = rt.dataset(dataset)
    key = handle.parse_key(typed)
    text = key_text(key)  # canonical, as holds and the audit record it
    targets = [
        rt.target(name) for name, policy in rt.config.policies.items() if policy.dataset == dataset
    ]
    columns: set[str] = set()
    for target in targets:
        for index in range(len(target.actions)):
            columns |= columns_of(target.selection(index, as_of))
    rows = handle.fetch([key], sorted(columns))
    row = rows.get(text)
    history = tuple(rt.ledger.iter_events(dataset=dataset, item_key=text))
    registry = tuple(h for h in rt.holds.list(dataset) if h.covers(text))
    warnings = tuple(DeliveryLedger(rt.state).for_item(dataset, text))
    if row is None:
        return Explanation(dataset, text, False, {}, (), registry, False, history, warnings)
    config = rt.config.datasets[dataset]
    held_by_table = False
    if config.holds is not None and config.key is not None:
        values = key if isinstance(key, tuple) else (key,)
        found = handle.select(
            All(
                tuple(
                    In(name, (value if isinstance(value, int | str) else key_text(value),))
                    for name, value in zip(config.key_columns, values, strict=True)
                )
            ),
            limit=1,
        )
        held_by_table = bool(found and found[0].held)
    verdicts = tuple(v for target in targets for v in _verdicts(rt, target, key, row, as_of))
    return Explanation(
        dataset, text, True, row, verdicts, registry, held_by_table, history, warnings
    )
