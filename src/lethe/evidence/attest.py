"""Overdue attestation: the "nothing due is kept" promise measured, not assumed.

An item is **overdue** at ``T`` when a destructive phase would select it at ``T - tolerance``:
it has been due, and not held, for longer than the tolerance. The count uses the very selection
a run uses, with its bound moved back by the tolerance, so it needs no keys in Python and means
exactly what a run means. Items held (lethe's holds, the application's hold table) are never
overdue. The default tolerance is twice the longest gap between the slots of the jobs that run
the policy, or one day for a policy no job runs.

For each phase with overdue items the attestation also names a few of them (the first
:data:`SAMPLE_KEYS` in key order) and when the oldest became due. Both come from the store
without loading every key: the samples are one bounded read, and the instant is found by
bisecting the phase's own selection over time (due-ness only begins as time passes), one
"is any item eligible" read per step, to the whole second — so it means exactly what a run
means for any due rule: a due column, an age with a retention, a grace after a soft deletion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from typing import Any

from lethe.config.durations import Duration
from lethe.config.model import LetheConfig
from lethe.engine.runtime import Runtime, Target
from lethe.evidence import documents
from lethe.model.keys import ItemKey, key_text

__all__ = ["KIND", "SAMPLE_KEYS", "Attestation", "Overdue", "attest", "default_tolerance"]

KIND = "lethe.attestation"
#: Without a job, a policy is expected to run at least daily.
NO_JOB_TOLERANCE = Duration(seconds=86400)
#: Slots looked at to find a job's longest gap (a minutely job: 16 hours of them).
_SLOTS = 1000
#: Overdue keys named per phase: enough to look a case up, never a list of everyone.
SAMPLE_KEYS = 5
#: The earliest instant the bisection for the oldest due instant looks at.
_FLOOR = datetime(1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Overdue:
    """One destructive phase of one policy: items overdue and items held at the instant."""

    policy: str
    dataset: str
    phase: int
    action: str
    tolerance: Duration
    overdue: int
    held: int
    #: The first overdue items' keys in key order (at most ``samples``; empty when none).
    sample_keys: tuple[str, ...] = ()
    #: When the oldest overdue item became due, to the second (None when none is overdue).
    due_since: datetime | None = None


@dataclass(frozen=True)
class Attestation:
    """The counts at ``as_of``; ``ok`` when no item is overdue."""

    as_of: datetime
    phases: tuple[Overdue, ...]

    @property
    def overdue(self) -> int:
        return sum(p.overdue for p in self.phases)

    @property
    def ok(self) -> bool:
        return self.overdue == 0

    def body(self) -> dict[str, Any]:
        """The attestation as a document body (kind ``lethe.attestation``)."""
        return {
            "as_of": self.as_of.isoformat(),
            "overdue_total": self.overdue,
            "phases": [
                {
                    "policy": p.policy,
                    "dataset": p.dataset,
                    "phase": p.phase,
                    "action": p.action,
                    "tolerance": str(p.tolerance),
                    "overdue": p.overdue,
                    "held": p.held,
                    "sample_keys": list(p.sample_keys),
                    "oldest_due_since": p.due_since.isoformat() if p.due_since else None,
                }
                for p in self.phases
            ],
        }


def default_tolerance(config: LetheConfig, policy: str, at: datetime) -> Duration:
    """Twice the longest gap between the next slots of the jobs that run ``policy``."""
    gaps = [
        max((b - a for a, b in pairwise(islice(job.cron.after(at), _SLOTS))), default=None)
        for job in config.jobs
        if policy in job.policies
    ]
    known = [gap for gap in gaps if gap is not None]
    return Duration(seconds=2 * int(max(known).total_seconds())) if known else NO_JOB_TOLERANCE


def attest(
    rt: Runtime,
    policies: Sequence[str] | None,
    as_of: datetime,
    tolerance: Duration | None = None,
    *,
    samples: int = SAMPLE_KEYS,
) -> Attestation:
    """Per destructive phase of each enabled policy, the items overdue at ``as_of``; for a
    phase with any, up to ``samples`` of their keys and when the oldest became due
    (``samples=0``: the counts alone, as ``/metrics`` recounts them every minute)."""
    phases: list[Overdue] = []
    for target in rt.targets(policies):
        allowed = tolerance or rt.config.evidence.overdue_tolerance
        allowed = allowed or default_tolerance(rt.config, target.policy, as_of)
        registry = [target.handle.parse_key(k) for k in rt.holds.active_keys(target.dataset)]
        for index, action in enumerate(target.actions):
            if not action.destructive:
                continue
            then = allowed.before(as_of)
            overdue, _ = target.handle.count(target.selection(index, then), exclude=registry)
            _, held = target.handle.count(target.selection(index, as_of), exclude=registry)
            keys: tuple[str, ...] = ()
            since = None
            if overdue and samples > 0:
                found = target.handle.eligible_keys(
                    target.selection(index, then), exclude=registry, limit=samples
                )
                keys = tuple(key_text(k) for k in found)
                since = _due_since(target, index, registry, then)
            phases.append(
                Overdue(
                    target.policy,
                    target.dataset,
                    index,
                    action.type,
                    allowed,
                    overdue,
                    held,
                    keys,
                    since,
                )
            )
    return Attestation(as_of, tuple(phases))


def _due_since(target: Target, index: int, registry: Sequence[ItemKey], then: datetime) -> datetime:
    """The earliest whole second at which phase ``index`` selected an item eligible at
    ``then`` (some is): back from ``then`` by doubling steps until none is, then bisected.
    About ``2·log2(age in hours) + 12`` one-row reads."""

    def any_due(at: datetime) -> bool:
        selected = target.selection(index, at)
        return bool(target.handle.eligible_keys(selected, exclude=registry, limit=1))

    # Whole seconds throughout: an item due at 02:00:00 is said due since 02:00:00, and one
    # due at 02:00:00.5 since 02:00:01, never a moment before it was.
    high = then.replace(microsecond=0) + timedelta(seconds=1 if then.microsecond else 0)
    step = timedelta(hours=1)
    while True:
        if step >= high - _FLOOR:
            if any_due(_FLOOR):
                return _FLOOR  # due since before any date a store keeps: say the floor
            low = _FLOOR
            break
        low = high - step
        if not any_due(low):
            break
        high, step = low, step * 2
    while (span := int((high - low).total_seconds())) > 1:
        middle = low + timedelta(seconds=span // 2)
        if any_due(middle):
            high = middle
        else:
            low = middle
    return high


def _check(body: Mapping[str, Any]) -> list[str]:
    phases = body.get("phases")
    if not isinstance(phases, list) or not isinstance(body.get("overdue_total"), int):
        return ["an attestation needs phases and overdue_total"]
    counts = [p.get("overdue") for p in phases if isinstance(p, dict)]
    valid = [c for c in counts if isinstance(c, int) and c >= 0]
    if len(valid) != len(phases):
        return ["every phase needs a non-negative overdue count"]
    if sum(valid) != body["overdue_total"]:
        return ["overdue_total is not the sum of the phases' counts"]
    return [problem for phase in phases for problem in _check_samples(phase)]


def _check_samples(phase: Mapping[str, Any]) -> list[str]:
    """A phase's samples and oldest instant, when it states them (attestations issued before
    they existed do not): no more keys than items overdue, an instant only with some."""
    where = f"{phase.get('policy')} phase {phase.get('phase')}"
    keys = phase.get("sample_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return [f"{where}: sample_keys must be a list of key texts"]
    if len(keys) > phase["overdue"] or len(set(keys)) != len(keys):
        return [f"{where}: more sample keys than items overdue, or one twice"]
    since = phase.get("oldest_due_since")
    if since is None:
        return []
    try:
        datetime.fromisoformat(str(since))
    except ValueError:
        return [f"{where}: oldest_due_since is not an ISO 8601 instant"]
    return [] if phase["overdue"] else [f"{where}: an oldest due instant with nothing overdue"]


documents.register(KIND, _check)
