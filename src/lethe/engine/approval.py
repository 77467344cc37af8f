"""Whether a refused run's recorded plan is still what a run would do, before it is approved.

An approval lets exactly the recorded keys through. If some of them stopped being due (a
row was updated) or are held now, approving would sign off a plan that no longer matches
the data: the approval is refused and a new run records a fresh plan. ``run --approved``
checks each key again under its batch's lock, so a change after the approval is safe too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lethe.engine.planning import plan
from lethe.engine.runtime import Runtime
from lethe.model.keys import key_text
from lethe.model.plan import Plan

__all__ = ["PlanChanges", "plan_changes"]

#: How many keys of each kind the refusal names.
SAMPLES = 5


@dataclass(frozen=True)
class PlanChanges:
    """The recorded plan's keys that would not be acted on now, per reason."""

    planned: int
    no_longer_due: tuple[str, ...]
    now_held: tuple[str, ...]

    @property
    def changed(self) -> int:
        return len(self.no_longer_due) + len(self.now_held)

    def describe(self) -> str:
        """``2 of 3 planned items …: 1 no longer due (surveys 2), 1 now held (surveys 7)``."""
        parts = [
            f"{len(keys)} {what} ({', '.join(keys[:SAMPLES])}"
            f"{', …' if len(keys) > SAMPLES else ''})"
            for what, keys in (("no longer due", self.no_longer_due), ("now held", self.now_held))
            if keys
        ]
        return (
            f"{self.changed} of {self.planned} planned items changed since the plan: "
            + ", ".join(parts)
        )


def plan_changes(rt: Runtime, recorded: Plan, as_of: datetime) -> PlanChanges:
    """Which keys of ``recorded`` a run at ``as_of`` would no longer act on, and why; each
    named ``DATASET KEY`` (as ``lethe explain`` takes it)."""
    targets = rt.targets(sorted({p.policy for p in recorded.phases}))
    now = plan(rt, targets, as_of, recorded)
    gone: list[str] = []
    held: list[str] = []
    planned = 0
    for phase in recorded.phases:
        keys = [key_text(k) for k in phase.keys]
        planned += len(keys)
        current = now.phase(phase.policy, phase.phase)
        acted = {key_text(k) for k in current.keys} if current else set()
        holding = {key_text(k) for k in current.held} if current else set()
        for key in keys:
            if key in holding:
                held.append(f"{phase.dataset} {key}")
            elif key not in acted:
                gone.append(f"{phase.dataset} {key}")
    return PlanChanges(planned, tuple(dict.fromkeys(gone)), tuple(dict.fromkeys(held)))
