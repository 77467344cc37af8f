"""``warn``: tell people before their data goes — 30, 7 and 1 days ahead, each exactly once.

The phase selects the items due within its longest lead (and not soft-deleted yet), works out
which notice each is owed (:mod:`lethe.notify.milestones`), groups them per recipient, and
sends one digest each through its sender, recording every delivery in the delivery ledger
(:mod:`lethe.state.deliveries`) and a ``warned`` audit event. With ``wait_for_delivery``
(default) it also holds back the policy's deleting phases: an item goes only once its
shortest notice was delivered at least that long ago.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lethe.actions.base import Action, PhaseContext
from lethe.actions.external import ExternalAction, ExternalOutcome
from lethe.actions.registry import register
from lethe.config.durations import Duration
from lethe.config.types import DurationField, SqlName
from lethe.errors import ConfigError
from lethe.model.conditions import All, Condition, IsNull, columns_of
from lethe.model.keys import ItemKey, key_text
from lethe.notify import SenderField
from lethe.notify.delivery import DeliveryReport, Sending, deliver
from lethe.notify.digest import Composer, Notice, Owed, digest, owed
from lethe.notify.environment import environment
from lethe.notify.milestones import Milestone, schedule
from lethe.notify.recipients import Recipient
from lethe.notify.templates import Templates, templates_for
from lethe.state.deliveries import DeliveryLedger
from lethe.stores.base import DatasetHandle

__all__ = ["Warn"]


@register("warn")
class Warn(ExternalAction):
    """Email (or post) each due item's owner before it is deleted, one digest per recipient::

    [[policies.governance.actions]]
    type = "warn"
    before = ["30d", "7d", "1d"]
    recipient = { column = "owner_id", table = "auth_user", key = "id", email = "email" }
    """

    type: Literal["warn"] = "warn"
    before: list[DurationField] = Field(min_length=1, max_length=12)
    recipient: Recipient
    sender: SenderField = Field(
        default_factory=lambda: {"type": "smtp"},
        validate_default=True,
        description="smtp (default, configured from EMAIL_* variables) or webhook.",
    )
    fields: list[SqlName] = Field(
        default_factory=list, description="Columns templates may show (never audited)."
    )
    templates: str | None = Field(
        default=None, description="Directory overriding subject.txt, body.txt, body.html."
    )
    site_url: str = Field(default="", description="For links in templates (default SITE_URL).")
    wait_for_delivery: bool = Field(
        default=True,
        description="Delete an item only once its shortest notice was delivered that long ago.",
    )

    label = "Warned"
    event = "warned"
    once_per_policy: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _site_url_from_environment(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "site_url" not in data:
            return {**data, "site_url": environment(info).get("SITE_URL", "")}
        return data

    @field_validator("before")
    @classmethod
    def _distinct_leads(cls, value: list[Duration]) -> list[Duration]:
        if any(lead == Duration() for lead in value):
            raise ValueError("a warning needs a lead time above zero")
        if len(set(value)) != len(value):
            raise ValueError("a lead time is listed twice")
        return value

    def milestones(self) -> tuple[Milestone, ...]:
        """The notices, most urgent first."""
        return schedule(self.before)

    # -- what it selects and reads -------------------------------------------------------

    def selection(self, ctx: PhaseContext) -> Condition:
        if ctx.due_at is None:
            raise ValueError("warn needs the dataset's due rule")
        longest = self.milestones()[-1]
        parts: list[Condition] = [ctx.due_at(longest.lead.after(ctx.as_of))]
        if ctx.soft_delete_column:  # a soft-deleted item was warned already, or predates lethe
            parts.append(IsNull(ctx.soft_delete_column))
        return All(tuple(parts))

    def reads(self) -> set[str]:
        return self.recipient.columns() | set(self.fields)

    def reads_related(self) -> dict[str, set[str]]:
        return self.recipient.related()

    def bind(self, dataset: DatasetHandle, ctx: PhaseContext) -> None:
        self.recipient.check(dataset)
        try:
            self._templates(ctx).check()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _templates(self, ctx: PhaseContext) -> Templates:
        if self.templates is None:
            return templates_for(None)
        directory = Path(self.templates)
        if not directory.is_absolute() and ctx.base_dir is not None:
            directory = ctx.base_dir / directory
        if not directory.is_dir():
            raise ValueError(f"templates directory {directory} does not exist")
        return templates_for(directory.resolve())

    # -- notify before delete ------------------------------------------------------------

    def guard(self, other: Action, keys: Sequence[ItemKey], ctx: PhaseContext) -> dict[str, str]:
        """Items of a deleting phase that wait for their shortest notice to be old enough.

        Applies to destructive phases that select by the due date (soft_delete, redact, a
        purge without grace); a purge after a grace period follows a soft delete that waited.
        """
        if not self.wait_for_delivery or not other.destructive:
            return {}
        if not columns_of(ctx.due) <= columns_of(other.selection(ctx)):
            return {}
        texts = [key_text(k) for k in keys]
        shortest = self.milestones()[0]
        if ctx.state is None:
            return dict.fromkeys(texts, "no state database to look up warnings in")
        delivered = DeliveryLedger(ctx.state).delivered_at(ctx.policy, texts, shortest.name)
        reasons: dict[str, str] = {}
        for text in texts:
            at = delivered.get(text)
            if at is None:
                reasons[text] = f"its {shortest.label} deletion warning is not delivered yet"
            elif shortest.lead.after(at) > ctx.as_of:
                reasons[text] = (
                    f"its {shortest.label} deletion warning was delivered at {at:%Y-%m-%d %H:%M} "
                    f"UTC; it may go from {shortest.lead.after(at):%Y-%m-%d %H:%M} UTC"
                )
        return reasons

    # -- sending -------------------------------------------------------------------------

    def act(
        self,
        dataset: DatasetHandle,
        keys: Sequence[ItemKey],
        ctx: PhaseContext,
        *,
        run_id: str | None,
        phase: int,
    ) -> ExternalOutcome:
        if ctx.state is None:
            raise ConfigError("warn needs lethe's state database")
        milestones = self.milestones()
        ledger = DeliveryLedger(ctx.state)
        notices, orphans = self._notices(dataset, keys, ctx, ledger)
        errors = [self._orphan_error(ctx, orphans)] if orphans else []
        if run_id is None:
            items = [i for n in notices for i in n.items]
            chosen = {i.key for i in items}
            return ExternalOutcome(
                acted=tuple(k for k in keys if key_text(k) in chosen),
                summary=(_summary("Would send", items, len(notices), milestones),),
                details=_details(items, len(notices), orphans),
                notes=tuple(_note(ctx.dataset, notice) for notice in notices),
                errors=tuple(errors),
            )
        composer = Composer(
            self._templates(ctx),
            policy=ctx.policy,
            dataset=ctx.dataset,
            site_url=self.site_url,
            as_of=ctx.as_of,
            milestones=milestones,
        )
        sending = Sending(ctx.policy, ctx.dataset, run_id, phase, ctx.as_of)
        report = deliver(notices, composer, self.sender.build(), ledger, sending)
        return self._outcome(report, notices, orphans, milestones, keys, errors)

    def _notices(
        self,
        dataset: DatasetHandle,
        keys: Sequence[ItemKey],
        ctx: PhaseContext,
        ledger: DeliveryLedger,
    ) -> tuple[list[Notice], list[Owed]]:
        """What each item is owed now, grouped per recipient; and who has no address."""
        if ctx.due_at is None:
            raise ConfigError("warn needs the dataset's due rule")
        texts = {key_text(k): k for k in keys}
        rows = dataset.fetch(list(keys), sorted(columns_of(ctx.due) | self.reads()))
        due = owed(
            rows,
            ledger.lookup(ctx.policy, list(texts)),
            self.milestones(),
            ctx.due_at,
            ctx.as_of,
            fields=self.fields,
            guarded=self.wait_for_delivery,
        )
        recipients = self.recipient.resolve(dataset, [texts[o.key] for o in due], rows)
        return digest(due, recipients)

    def _outcome(
        self,
        report: DeliveryReport,
        notices: list[Notice],
        orphans: list[Owed],
        milestones: tuple[Milestone, ...],
        keys: Sequence[ItemKey],
        errors: list[str],
    ) -> ExternalOutcome:
        sent = set(report.delivered)
        items = [i for n in notices for i in n.items if (i.key, i.milestone.name) in sent]
        done = {i.key for i in items}
        summary = [_summary("Sent", items, report.messages, milestones)]
        if report.failed or report.unattempted:
            summary.append(
                f"Not delivered: {report.failed + report.unattempted} deletion warnings "
                "(see the errors; the next run tries again)"
            )
        if report.unknown:
            summary.append(
                f"Outcome unknown: {report.unknown} deletion warnings (the connection dropped "
                "after the message was handed over; the next run resends it, same Message-ID)"
            )
        details = _details(items, report.messages, orphans)
        details.update(
            not_delivered=report.failed + report.unattempted,
            resent=report.resent,
            outcome_unknown=report.unknown,
        )
        return ExternalOutcome(
            acted=tuple(k for k in keys if key_text(k) in done),
            summary=tuple(summary),
            details=details,
            errors=tuple(errors + report.errors),
        )

    def _orphan_error(self, ctx: PhaseContext, orphans: list[Owed]) -> str:
        where = (
            f"{self.recipient.column} → {self.recipient.table}.{self.recipient.email}"
            if self.recipient.table
            else str(self.recipient.column)
        )
        keys = ", ".join(o.key for o in orphans[:20]) + (" …" if len(orphans) > 20 else "")
        held = "; they are not deleted until warned" if self.wait_for_delivery else ""
        return f"{ctx.dataset} {keys}: no recipient address ({where} is empty){held}"


def _counts(items: Sequence[Owed], milestones: tuple[Milestone, ...]) -> dict[str, int]:
    counts = {m.name: 0 for m in reversed(milestones)}  # longest lead first, as people read it
    for item in items:
        counts[item.milestone.name] += 1
    return counts


def _summary(
    verb: str, items: Sequence[Owed], messages: int, milestones: tuple[Milestone, ...]
) -> str:
    """The seeds' line: ``Sent 3 deletion warnings in 2 messages: 30-day: 2, 7-day: 1, …``."""
    labels = {m.name: m.label for m in milestones}
    parts = ", ".join(f"{labels[name]}: {n}" for name, n in _counts(items, milestones).items())
    noun = "message" if messages == 1 else "messages"
    return f"{verb} {len(items)} deletion warnings in {messages} {noun}: {parts}"


def _details(items: Sequence[Owed], messages: int, orphans: Sequence[Owed]) -> dict[str, Any]:
    by_milestone: dict[str, int] = {}
    for item in items:
        by_milestone[item.milestone.name] = by_milestone.get(item.milestone.name, 0) + 1
    return {
        "warnings": len(items),
        "messages": messages,
        "milestones": by_milestone,
        "no_recipient": len(orphans),
    }


def _note(dataset: str, notice: Notice) -> str:
    by_label: dict[str, list[str]] = {}
    for item in notice.items:
        by_label.setdefault(item.milestone.label, []).append(item.key)
    parts = "; ".join(
        f"{label} notice for {dataset} {', '.join(k)}" for label, k in by_label.items()
    )
    return f"to {notice.recipient}: {parts}"
