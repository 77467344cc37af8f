"""A plan: exactly what a run would do at one instant, as a versioned, hashed document.

``lethe plan --out plan.json`` writes :meth:`Plan.to_document`; ``lethe run --plan`` reads it
back with :meth:`Plan.from_document`, which refuses an unknown version or a changed hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lethe.errors import PlanFileError
from lethe.model.keys import ItemKey, key_text

__all__ = ["PLAN_VERSION", "PhasePlan", "Plan"]

PLAN_VERSION = 1


@dataclass(frozen=True)
class PhasePlan:
    """What one phase of one policy would do."""

    policy: str
    dataset: str
    table: str
    phase: int
    action: str
    label: str
    keys: tuple[ItemKey, ...]
    held: tuple[ItemKey, ...] = ()
    blocked: Mapping[str, str] = field(default_factory=dict)
    capped: int = 0
    cascade: Mapping[str, int] = field(default_factory=dict)
    destructive: bool = True
    #: Referencing rows that would be set NULL or to their default, per table.
    updated: Mapping[str, int] = field(default_factory=dict)
    #: Items skipped because their age could not be read (never acted on).
    unreadable: tuple[ItemKey, ...] = ()
    #: Summary lines and counts of a phase that acts outside the store (warnings).
    summary: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    #: What it would send, one line per message (recipients included).
    notes: tuple[str, ...] = ()

    @property
    def rows_by_table(self) -> dict[str, int]:
        """Rows this phase removes or changes per table (parents plus cascaded children)."""
        rows = dict(self.cascade)
        rows[self.table] = rows.get(self.table, 0) + len(self.keys)
        return rows

    def to_document(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "dataset": self.dataset,
            "table": self.table,
            "phase": self.phase,
            "action": self.action,
            "label": self.label,
            "keys": [key_text(k) for k in self.keys],
            "held": [key_text(k) for k in self.held],
            "blocked": dict(self.blocked),
            "capped": self.capped,
            "cascade": dict(self.cascade),
            "updated": dict(self.updated),
            "destructive": self.destructive,
            "unreadable": [key_text(k) for k in self.unreadable],
            "summary": list(self.summary),
            "details": dict(self.details),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Plan:
    """Every phase's planned items at ``as_of``, plus the warnings and errors met planning."""

    as_of: datetime
    config_hash: str
    phases: tuple[PhasePlan, ...]
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def phase(self, policy: str, index: int) -> PhasePlan | None:
        """The plan of one phase, if it was planned."""
        return next((p for p in self.phases if p.policy == policy and p.phase == index), None)

    def to_document(self) -> dict[str, Any]:
        """The JSON document, with a SHA-256 over everything but the hash itself."""
        body: dict[str, Any] = {
            "version": PLAN_VERSION,
            "as_of": self.as_of.isoformat(),
            "config_hash": self.config_hash,
            "phases": [p.to_document() for p in self.phases],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }
        return {**body, "hash": _digest(body)}

    @staticmethod
    def from_document(document: Mapping[str, Any], source: str = "plan file") -> Plan:
        """Read a plan document back, refusing unknown versions and edited contents."""
        version = document.get("version")
        if version != PLAN_VERSION:
            raise PlanFileError(
                f"{source}: plan version {version!r} is not supported (expected {PLAN_VERSION})"
            )
        body = {k: v for k, v in document.items() if k != "hash"}
        if document.get("hash") != _digest(body):
            raise PlanFileError(f"{source}: hash does not match its contents; the plan was edited")
        try:
            phases = tuple(
                PhasePlan(
                    policy=p["policy"],
                    dataset=p["dataset"],
                    table=p["table"],
                    phase=int(p["phase"]),
                    action=p["action"],
                    label=p["label"],
                    keys=_keys(p["keys"]),
                    held=_keys(p["held"]),
                    blocked=dict(p.get("blocked", {})),
                    capped=int(p["capped"]),
                    cascade=dict(p["cascade"]),
                    updated=dict(p.get("updated", {})),
                    destructive=bool(p.get("destructive", True)),
                    unreadable=_keys(p.get("unreadable", [])),
                    summary=tuple(p.get("summary", ())),
                    details=dict(p.get("details", {})),
                    notes=tuple(p.get("notes", ())),
                )
                for p in document["phases"]
            )
            as_of = datetime.fromisoformat(document["as_of"])
            if as_of.tzinfo is None:
                raise ValueError(f"as_of {document['as_of']!r} has no time zone")
            return Plan(
                as_of=as_of,
                config_hash=str(document["config_hash"]),
                phases=phases,
                warnings=tuple(document.get("warnings", ())),
                errors=tuple(document.get("errors", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanFileError(f"{source}: malformed plan ({exc})") from exc


def _keys(value: Any) -> tuple[ItemKey, ...]:
    """A list of keys as written by :meth:`PhasePlan.to_document` (text), or a TypeError."""
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise TypeError("keys must be a list of strings")
    return tuple(value)


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
