"""What a run did: typed results returned by the Python API and rendered by the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from lethe.model.plan import Plan

__all__ = ["PhaseResult", "RunResult", "RunStatus"]


class RunStatus(StrEnum):
    """How a run ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEGRADED = "degraded"  # finished, but some items were skipped because something failed
    TRIPPED = "tripped"  # a safety limit refused the run before anything changed
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class PhaseResult:
    """Counts for one phase of one policy in a run."""

    policy: str
    dataset: str
    table: str
    phase: int
    action: str
    label: str
    acted: int = 0
    held: int = 0
    blocked: int = 0
    capped: int = 0
    cascade: Mapping[str, int] = field(default_factory=dict)
    destructive: bool = True
    #: Referencing rows set NULL or to their default, per table (``ON DELETE SET NULL``).
    updated: Mapping[str, int] = field(default_factory=dict)
    #: Items skipped because their age field was missing or unreadable (never acted on).
    unreadable: int = 0
    #: Items the store refused (a per-key error of a bulk delete, a row a constraint or trigger
    #: refused, found by bisection), each with a ``skipped_error`` event; retried next run.
    failed: int = 0
    #: Lines replacing the default summary line (a warning phase's "Sent 3 deletion …").
    summary: tuple[str, ...] = ()
    #: Phase-specific counts (never personal data: this is recorded).
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PhaseResult:
        """A phase read back from a run record (:meth:`to_document`)."""
        return cls(
            **{
                **document,
                "cascade": dict(document.get("cascade", {})),
                "updated": dict(document.get("updated", {})),
                "summary": tuple(document.get("summary", ())),
                "details": dict(document.get("details", {})),
            }
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "dataset": self.dataset,
            "table": self.table,
            "phase": self.phase,
            "action": self.action,
            "label": self.label,
            "acted": self.acted,
            "held": self.held,
            "blocked": self.blocked,
            "capped": self.capped,
            "cascade": dict(self.cascade),
            "updated": dict(self.updated),
            "destructive": self.destructive,
            "unreadable": self.unreadable,
            "failed": self.failed,
            "summary": list(self.summary),
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class RunResult:
    """The outcome of ``lethe run`` (or its dry-run), as returned by :meth:`lethe.Lethe.run`."""

    run_id: str
    dry_run: bool
    as_of: datetime
    started_at: datetime
    completed_at: datetime
    status: RunStatus
    policies: tuple[str, ...]
    phases: tuple[PhaseResult, ...]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    limit_tripped: str | None = None
    drift: Mapping[str, int] = field(default_factory=dict)
    #: A dry run's plan: the exact keys it found for each phase (not part of the record).
    plan: Plan | None = field(default=None, compare=False, repr=False)

    @property
    def deleted(self) -> int:
        """Parent items soft- or hard-deleted (or that would be, in a dry run)."""
        return sum(p.acted for p in self.phases if p.destructive)

    @property
    def ok(self) -> bool:
        """True when the run finished without errors and no limit tripped."""
        return self.status is RunStatus.SUCCEEDED

    def counts(self) -> dict[str, dict[str, int]]:
        """``{table: {action: rows}}``, cascaded rows counted under the parent's action."""
        out: dict[str, dict[str, int]] = {}
        for phase in self.phases:
            by_table = {phase.table: phase.acted, **phase.cascade}
            for table, rows in by_table.items():
                slot = out.setdefault(table, {})
                slot[phase.action] = slot.get(phase.action, 0) + rows
        return out

    def to_document(self) -> dict[str, Any]:
        """The run record as written to ``runs_dir`` and returned by ``--json``."""
        return {
            "version": 1,
            "runId": self.run_id,
            "dryRun": self.dry_run,
            "asOf": self.as_of.isoformat(),
            "startedAt": self.started_at.isoformat(),
            "completedAt": self.completed_at.isoformat(),
            "status": self.status.value,
            "policies": list(self.policies),
            "phases": [p.to_document() for p in self.phases],
            "counts": self.counts(),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "limitTripped": self.limit_tripped,
            "drift": dict(self.drift),
        }
