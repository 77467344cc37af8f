"""Overdue attestation: the "nothing due is kept" promise measured, not assumed.

An item is **overdue** at ``T`` when a destructive phase would select it at ``T - tolerance``:
it has been due, and not held, for longer than the tolerance. The count uses the very selection
a run uses, with its bound moved back by the tolerance, so it needs no keys in Python and means
exactly what a run means. Items held (lethe's holds, the application's hold table) are never
overdue. The default tolerance is twice the longest gap between the slots of the jobs that run
the policy, or one day for a policy no job runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, pairwise
from typing import Any

from lethe.config.durations import Duration
from lethe.config.model import LetheConfig
from lethe.engine.runtime import Runtime
from lethe.evidence import documents

__all__ = ["KIND", "Attestation", "Overdue", "attest", "default_tolerance"]

KIND = "lethe.attestation"
#: Without a job, a policy is expected to run at least daily.
NO_JOB_TOLERANCE = Duration(seconds=86400)
#: Slots looked at to find a job's longest gap (a minutely job: 16 hours of them).
_SLOTS = 1000


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
) -> Attestation:
    """Per destructive phase of each enabled policy, the items overdue at ``as_of``."""
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
            phases.append(
                Overdue(target.policy, target.dataset, index, action.type, allowed, overdue, held)
            )
    return Attestation(as_of, tuple(phases))


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
    return []


documents.register(KIND, _check)
