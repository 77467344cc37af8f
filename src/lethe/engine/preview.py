"""Policy-change preview: what a new policy file would do differently from an old one.

``lethe plan --against OLD`` judges every item of every dataset under both files, at the plan
instant and at each of the next days, on the same live data: an item is in the **phase** of
the last (highest-numbered) enabled phase whose rule selects it and is **due** when that phase
is destructive. Held items (lethe's registry, the application's hold table) and items whose
date cannot be read are in no phase under either file. The rules alone decide here: the cap,
warnings not yet sent and referencing rows that block a purge are left to ``lethe plan``,
which shows them for the file as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lethe.engine.runtime import Runtime, Target
from lethe.model.keys import key_text

__all__ = ["Change", "DatasetPreview", "Moment", "Preview", "preview", "states"]

#: How an item's judgement differs between the files.
BECOMES_DUE, NO_LONGER_DUE, CHANGES_PHASE = "becomes_due", "no_longer_due", "changes_phase"
KINDS = (BECOMES_DUE, NO_LONGER_DUE, CHANGES_PHASE)


@dataclass(frozen=True)
class State:
    """Where one item stands under one file: its policy and phase, and whether it is due."""

    policy: str
    phase: int
    action: str
    due: bool

    def describe(self) -> str:
        return f"{self.policy}[{self.phase}] {self.action}"


@dataclass(frozen=True)
class Change:
    """One item judged differently."""

    key: str
    kind: str
    old: State | None
    new: State | None


@dataclass(frozen=True)
class Moment:
    """The differences at one instant: counts per kind and the first few keys of each."""

    as_of: datetime
    counts: Mapping[str, int]
    samples: Mapping[str, tuple[Change, ...]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class DatasetPreview:
    """One dataset's differences at the plan instant, then day by day."""

    dataset: str
    old_policies: tuple[str, ...]
    new_policies: tuple[str, ...]
    moments: tuple[Moment, ...]


@dataclass(frozen=True)
class Preview:
    """The whole preview: what was compared, and each dataset's differences."""

    as_of: datetime
    days: int
    old_source: str
    new_source: str
    datasets: tuple[DatasetPreview, ...] = field(default_factory=tuple)

    def to_document(self) -> dict[str, object]:
        """The preview as JSON-ready data (``lethe plan --against … --json``)."""
        return {
            "as_of": self.as_of.isoformat(),
            "days": self.days,
            "old": self.old_source,
            "new": self.new_source,
            "datasets": [
                {
                    "dataset": ds.dataset,
                    "old_policies": list(ds.old_policies),
                    "new_policies": list(ds.new_policies),
                    "moments": [
                        {
                            "as_of": m.as_of.isoformat(),
                            "counts": dict(m.counts),
                            "samples": {
                                kind: [
                                    {
                                        "key": c.key,
                                        "old": c.old.describe() if c.old else None,
                                        "new": c.new.describe() if c.new else None,
                                    }
                                    for c in changes
                                ]
                                for kind, changes in m.samples.items()
                            },
                        }
                        for m in ds.moments
                    ],
                }
                for ds in self.datasets
            ],
        }


def states(rt: Runtime, targets: Iterable[Target], as_of: datetime) -> dict[str, State]:
    """Each selected, unheld, readable item's state at ``as_of`` under ``targets`` (the
    enabled policies of one dataset, in file order). An item several phases select is in a
    destructive one if any selects it, else in the last of them."""
    judged: dict[str, tuple[tuple[bool, int, int], State]] = {}
    for order, target in enumerate(targets):
        registry = rt.holds.active_keys(target.dataset)
        for index, action in enumerate(target.actions):
            state = State(target.policy, index, action.type, action.destructive)
            rank = (action.destructive, order, index)  # due beats not due, then file order
            for item in target.handle.iter_select(target.selection(index, as_of)):
                text = key_text(item.key)
                if item.held or item.unreadable or text in registry:
                    continue
                current = judged.get(text)
                if current is None or rank > current[0]:
                    judged[text] = (rank, state)
    return {key: state for key, (_, state) in judged.items()}


def _kind(old: State | None, new: State | None) -> str | None:
    if old == new:
        return None
    old_due, new_due = bool(old and old.due), bool(new and new.due)
    if new_due and not old_due:
        return BECOMES_DUE
    if old_due and not new_due:
        return NO_LONGER_DUE
    if (old and old.describe()) == (new and new.describe()):
        return None  # the same policy and phase, as numbered and labelled in both files
    return CHANGES_PHASE


def compare(
    old: Mapping[str, State], new: Mapping[str, State], as_of: datetime, samples: int
) -> Moment:
    """The differences between two judgements of the same items."""
    counts = dict.fromkeys(KINDS, 0)
    picked: dict[str, list[Change]] = {kind: [] for kind in KINDS}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        kind = _kind(before, after)
        if kind is None:
            continue
        counts[kind] += 1
        if len(picked[kind]) < samples:
            picked[kind].append(Change(key, kind, before, after))
    return Moment(as_of, counts, {kind: tuple(v) for kind, v in picked.items()})


def _by_dataset(rt: Runtime) -> dict[str, list[Target]]:
    grouped: dict[str, list[Target]] = {}
    for name, policy in rt.config.policies.items():
        if policy.enabled:
            grouped.setdefault(policy.dataset, []).append(rt.target(name))
    return grouped


def preview(old: Runtime, new: Runtime, as_of: datetime, *, days: int, samples: int = 5) -> Preview:
    """Compare ``old`` and ``new`` on the same data at ``as_of`` and each of ``days`` days
    after it. A dataset only one file names is compared with nothing selected in the other."""
    old_targets, new_targets = _by_dataset(old), _by_dataset(new)
    results: list[DatasetPreview] = []
    for dataset in sorted(old_targets.keys() | new_targets.keys()):
        before, after = old_targets.get(dataset, []), new_targets.get(dataset, [])
        moments = []
        for day in range(days + 1):
            at = as_of + timedelta(days=day)
            moments.append(compare(states(old, before, at), states(new, after, at), at, samples))
        results.append(
            DatasetPreview(
                dataset,
                tuple(t.policy for t in before),
                tuple(t.policy for t in after),
                tuple(moments),
            )
        )
    return Preview(as_of, days, old.settings.source, new.settings.source, tuple(results))
