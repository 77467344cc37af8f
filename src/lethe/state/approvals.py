"""Approvals: a refused run's exact plan, waiting for someone to approve it, then used once.

A real run the circuit breaker refuses records its plan (the keys each phase would act on, and
the plan's hash) as ``pending``. ``lethe approve`` makes it ``approved`` — who and why go to
the audit ledger as an ``approval_granted`` event — and ``lethe run --approved`` claims it
(``used``, an ``approval_used`` event in that run) before acting on exactly those keys. Each
change is a conditional update, so two approvers or two runs racing cannot both win.

:meth:`lethe.Lethe.approve` is the one way in (the CLI and ``POST /approvals/{run_id}``): it
checks that the plan's items are still due and unheld before :meth:`ApprovalLog.approve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from lethe.errors import ApprovalStateError, ConfigError, NotFoundError
from lethe.model.plan import Plan
from lethe.model.text import duration, stamp
from lethe.state.db import StateDB, as_utc
from lethe.state.ledger import EventDraft, Ledger
from lethe.state.schema import approvals

__all__ = ["APPROVAL_WINDOW", "Approval", "ApprovalLog", "ApprovalStatus", "next_steps"]

#: How long a refused run's plan may wait for its approval and its run, unless the policy
#: file says otherwise (``[evidence] approval_window``).
APPROVAL_WINDOW = timedelta(days=7)


def next_steps(run_id: str) -> str:
    """What the trip message tells the operator to do with a recorded plan."""
    return (
        f"to carry out exactly this plan: lethe approve {run_id} --by NAME --reason TEXT, "
        f"then lethe run --approved {run_id}"
    )


class ApprovalStatus(StrEnum):
    """Where an approval stands; ``expired`` is never stored, only shown (past the window)."""

    PENDING = "pending"
    APPROVED = "approved"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Approval:
    """One refused run's plan and what became of it."""

    run_id: str
    status: ApprovalStatus
    policies: tuple[str, ...]
    #: Per policy: ``items`` the destructive phases would act on, ``rows`` removed per table.
    counts: Mapping[str, Any]
    #: Why the circuit breaker refused the run.
    refusal: str
    plan: Mapping[str, Any]
    plan_hash: str
    created_at: datetime
    approved_by: str | None = None
    approved_reason: str | None = None
    approved_at: datetime | None = None
    used_by: str | None = None
    used_at: datetime | None = None

    def expired(self, now: datetime, window: timedelta) -> bool:
        """Whether the plan is older than ``window`` (an unused approval then goes stale)."""
        return self.status is not ApprovalStatus.USED and now - self.created_at > window

    def shown_status(self, now: datetime, window: timedelta) -> ApprovalStatus:
        """The status as listed: ``expired`` for a pending or approved plan past the window."""
        return ApprovalStatus.EXPIRED if self.expired(now, window) else self.status

    def to_document(self, now: datetime, window: timedelta) -> dict[str, Any]:
        """The listing's fields (the plan's keys are left out: they may be millions)."""
        return {
            "runId": self.run_id,
            "status": self.shown_status(now, window).value,
            "policies": list(self.policies),
            "counts": dict(self.counts),
            "refusal": self.refusal,
            "planHash": self.plan_hash,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": (self.created_at + window).isoformat(),
            "approvedBy": self.approved_by,
            "approvedReason": self.approved_reason,
            "approvedAt": self.approved_at.isoformat() if self.approved_at else None,
            "usedBy": self.used_by,
            "usedAt": self.used_at.isoformat() if self.used_at else None,
        }


def _approval(row: Any) -> Approval:
    created = as_utc(row["created_at"])
    assert created is not None  # NOT NULL
    return Approval(
        run_id=row["run_id"],
        status=ApprovalStatus(row["status"]),
        policies=tuple(row["policies"]),
        counts=dict(row["counts"]),
        refusal=row["refusal"],
        plan=dict(row["plan"]),
        plan_hash=row["plan_hash"],
        created_at=created,
        approved_by=row["approved_by"],
        approved_reason=row["approved_reason"],
        approved_at=as_utc(row["approved_at"]),
        used_by=row["used_by"],
        used_at=as_utc(row["used_at"]),
    )


def plan_counts(plan: Plan) -> dict[str, Any]:
    """Per policy, the items its destructive phases act on and the rows removed per table."""
    counts: dict[str, Any] = {}
    for phase in plan.phases:
        if not phase.destructive:
            continue
        entry = counts.setdefault(phase.policy, {"items": 0, "rows": {}})
        entry["items"] += len(phase.keys)
        for table, rows in phase.rows_by_table.items():
            entry["rows"][table] = entry["rows"].get(table, 0) + rows
    return counts


class ApprovalLog:
    """Approvals stored in the state database, their changes audited in the ledger."""

    def __init__(self, state: StateDB, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def request(self, run_id: str, refusal: str, plan: Plan) -> Approval:
        """Record the refused run ``run_id``'s plan as pending."""
        document = plan.to_document()
        with self.state.write() as conn:
            conn.execute(
                approvals.insert().values(
                    run_id=run_id,
                    status=ApprovalStatus.PENDING.value,
                    policies=sorted({p.policy for p in plan.phases}),
                    counts=plan_counts(plan),
                    refusal=refusal,
                    plan=document,
                    plan_hash=document["hash"],
                    created_at=self.state.now(),
                )
            )
        return self.get(run_id)

    def get(self, run_id: str) -> Approval:
        """The approval of one refused run, or :class:`~lethe.errors.NotFoundError`."""
        with self.state.read() as conn:
            row = (
                conn.execute(select(approvals).where(approvals.c.run_id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(
                f"no approval for run {run_id!r}: only a real run the circuit breaker refused "
                "asks for one; see `lethe approvals`"
            )
        return _approval(row)

    def list(self, limit: int = 100) -> list[Approval]:
        """The newest approvals first."""
        query = select(approvals).order_by(approvals.c.created_at.desc()).limit(limit)
        with self.state.read() as conn:
            return [_approval(row) for row in conn.execute(query).mappings()]

    def pending(self, run_id: str, window: timedelta) -> Approval:
        """The approval of ``run_id`` if it can still be approved, else why not (404, or
        :class:`~lethe.errors.ApprovalStateError`: approved, used, past ``window``)."""
        current = self.get(run_id)
        if current.status is not ApprovalStatus.PENDING:
            raise ApprovalStateError(f"run {run_id} cannot be approved: {_settled(current)}")
        if current.expired(self.state.now(), window):
            raise ApprovalStateError(
                f"run {run_id} cannot be approved: its plan of {stamp(current.created_at)} is "
                f"older than the approval window ({duration(window)}); run again for a fresh plan "
                "to approve"
            )
        return current

    def approve(
        self,
        run_id: str,
        by: str,
        reason: str,
        window: timedelta,
        *,
        via: str = "cli",
        identity: str | None = None,
    ) -> Approval:
        """Approve a pending plan that is younger than ``window``; audited with who and why,
        ``via`` which interface and, when known, the authenticated ``identity`` behind ``by``.

        Use :meth:`lethe.Lethe.approve`, which first checks the plan is still what would run.
        """
        if not by.strip():
            raise ConfigError("an approval needs the name of who approves it (--by)")
        if not reason.strip():
            raise ConfigError("an approval needs a reason (--reason)")
        current = self.pending(run_id, window)
        now = self.state.now()
        with self.state.write() as conn:
            changed = conn.execute(
                update(approvals)
                .where(
                    approvals.c.run_id == run_id,
                    approvals.c.status == ApprovalStatus.PENDING.value,
                )
                .values(
                    status=ApprovalStatus.APPROVED.value,
                    approved_by=by,
                    approved_reason=reason,
                    approved_at=now,
                )
            ).rowcount
            if changed != 1:  # approved meanwhile by someone else
                raise ApprovalStateError(
                    f"run {run_id} cannot be approved: {_settled(self.get(run_id))}"
                )
            self.ledger.append(
                conn,
                [
                    EventDraft(
                        run_id=run_id,
                        event="approval_granted",
                        details={
                            "by": by,
                            "reason": reason,
                            "via": via,
                            "identity": identity,
                            "plan_hash": current.plan_hash,
                            "counts": dict(current.counts),
                        },
                    )
                ],
            )
        return self.get(run_id)

    def claim(self, run_id: str, by_run: str, window: timedelta) -> Approval:
        """Mark an approved plan used by run ``by_run`` (once; audited), or refuse in one line."""
        current = self.get(run_id)
        now = self.state.now()
        if current.status is not ApprovalStatus.APPROVED:
            raise ApprovalStateError(f"run {run_id}'s plan cannot be run: {_settled(current)}")
        if current.expired(now, window):
            raise ApprovalStateError(
                f"the approval of run {run_id} is stale: its plan of "
                f"{stamp(current.created_at)} is older than the approval window; run again for "
                "a fresh plan to approve"
            )
        with self.state.write() as conn:
            changed = conn.execute(
                update(approvals)
                .where(
                    approvals.c.run_id == run_id,
                    approvals.c.status == ApprovalStatus.APPROVED.value,
                )
                .values(status=ApprovalStatus.USED.value, used_by=by_run, used_at=now)
            ).rowcount
            if changed != 1:  # another run took it first
                raise ApprovalStateError(
                    f"run {run_id}'s plan cannot be run: {_settled(self.get(run_id))}"
                )
            self.ledger.append(
                conn,
                [
                    EventDraft(
                        run_id=by_run,
                        event="approval_used",
                        details={
                            "approval": run_id,
                            "plan_hash": current.plan_hash,
                            "approved_by": current.approved_by,
                        },
                    )
                ],
            )
        return self.get(run_id)


def _settled(approval: Approval) -> str:
    """Why an approval is not in the state asked for, in a few words."""
    if approval.status is ApprovalStatus.PENDING:
        return "it is pending: approve it first with `lethe approve`"
    if approval.status is ApprovalStatus.APPROVED:
        return f"it was already approved by {approval.approved_by} at {stamp(approval.approved_at)}"
    return f"its approval was already used by run {approval.used_by} at {stamp(approval.used_at)}"
