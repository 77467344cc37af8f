"""The documents the HTTP service answers with, as they appear in its OpenAPI description."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lethe.jobs.claims import Claim
from lethe.jobs.runner import JobRun

__all__ = ["ApprovalRequest", "Health", "Problem", "RunReply", "TriggerReply"]


class Problem(BaseModel):
    """An error: what went wrong, in one line."""

    detail: str


class ApprovalRequest(BaseModel):
    """``POST /approvals/{run_id}``: who approves (default: the authenticated caller) and why."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=2000)


class RunReply(BaseModel):
    """A run that a trigger made and waited for."""

    slot: datetime
    run_id: str = Field(alias="runId")
    status: str
    note: str | None = None

    @classmethod
    def of(cls, run: JobRun) -> RunReply:
        return cls(slot=run.slot, runId=run.run_id, status=run.status.value, note=run.note)


class TriggerReply(BaseModel):
    """What a trigger achieved: ``started`` and ``queued`` answer 202, the rest 200."""

    job: str
    status: Literal["started", "queued", "duplicate", "skipped", "not_due"]
    reason: str
    slot: datetime | None = None
    run_id: str | None = Field(default=None, alias="runId")
    slot_status: str | None = Field(default=None, alias="slotStatus")
    next_slot: datetime | None = Field(default=None, alias="nextSlot")
    runs: list[RunReply] = Field(default_factory=list)

    @classmethod
    def of(cls, claim: Claim, runs: list[JobRun] | None = None) -> TriggerReply:
        document: dict[str, Any] = claim.to_document()
        document["runs"] = [RunReply.of(r) for r in runs or []]
        return cls.model_validate(document)


class Health(BaseModel):
    """``ok`` when every job succeeded inside its ``alert_after``; else the problems."""

    status: Literal["ok", "unhealthy"]
    problems: list[str]
    jobs: list[dict[str, Any]]
    #: Items due and not held for longer than the tolerance (``lethe attest``); null when the
    #: stores could not be read. Reported, not judged: an overdue item does not make it 503.
    overdue_items: int | None = None
