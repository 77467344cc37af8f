"""From due items to messages: which warning each item is owed, grouped per recipient.

Pure except for rendering: the warn phase feeds it rows and ledger entries, and sends what
comes out (or, in a plan, lists it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lethe.notify.base import Message
from lethe.notify.milestones import DueAt, Milestone, current, due_instant
from lethe.notify.templates import NoticeItem, Templates, notice_context
from lethe.state.deliveries import Delivery

__all__ = ["Composer", "Notice", "Owed", "digest", "owed", "recipient_hash"]


@dataclass(frozen=True)
class Owed:
    """An item owed one warning now."""

    key: str
    milestone: Milestone
    due: datetime | None
    deletes_at: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """One message to be: a recipient and every item they are owed a warning for."""

    recipient: str
    items: tuple[Owed, ...]

    @property
    def entries(self) -> tuple[tuple[str, str], ...]:
        """``(item key, milestone name)`` pairs, as claimed in the delivery ledger."""
        return tuple((item.key, item.milestone.name) for item in self.items)

    def only(self, entries: Sequence[tuple[str, str]]) -> Notice:
        """The same notice restricted to ``entries`` (those this run won)."""
        wanted = set(entries)
        return replace(
            self, items=tuple(i for i in self.items if (i.key, i.milestone.name) in wanted)
        )


def recipient_hash(recipient: str) -> str:
    """SHA-256 of the normalised address: what the audit and the ledger keep, never the address."""
    return hashlib.sha256(recipient.strip().lower().encode()).hexdigest()


def owed(
    rows: Mapping[str, Mapping[str, Any]],
    ledger: Mapping[str, Mapping[str, Delivery]],
    milestones: tuple[Milestone, ...],
    due_at: DueAt,
    as_of: datetime,
    *,
    fields: Sequence[str] = (),
    guarded: bool = True,
) -> list[Owed]:
    """Items owed a warning at ``as_of``: their most urgent milestone reached, not yet
    delivered nor being sent by another run. Older milestones are never sent late.

    ``guarded``: deletion waits until the shortest notice is that old, so a late one pushes
    the announced deletion back.
    """
    shortest = milestones[0]
    found: list[Owed] = []
    for key, row in rows.items():
        milestone = current(due_at, row, as_of, milestones)
        if milestone is None:
            continue
        entry = ledger.get(key, {}).get(milestone.name)
        if entry is not None and (entry.delivered or entry.in_flight):
            continue
        due = due_instant(due_at, row, as_of, milestone.lead.after(as_of))
        deletes_at = due or as_of
        if guarded and milestone == shortest:
            deletes_at = max(deletes_at, shortest.lead.after(as_of))
        picked = {name: row.get(name) for name in fields}
        found.append(Owed(key, milestone, due, deletes_at, picked))
    return found


def digest(
    items: Sequence[Owed], recipients: Mapping[str, str | None]
) -> tuple[list[Notice], list[Owed]]:
    """One notice per recipient (items in key order), and the items nobody can be told about."""
    grouped: dict[str, list[Owed]] = {}
    orphans: list[Owed] = []
    for item in items:
        address = recipients.get(item.key)
        if address is None:
            orphans.append(item)
        else:
            grouped.setdefault(address, []).append(item)
    notices = [Notice(address, tuple(found)) for address, found in sorted(grouped.items())]
    return notices, orphans


class Composer:
    """Renders notices of one warn phase into messages."""

    def __init__(
        self,
        templates: Templates,
        *,
        policy: str,
        dataset: str,
        site_url: str,
        as_of: datetime,
        milestones: tuple[Milestone, ...],
    ) -> None:
        self.templates = templates
        self.policy = policy
        self.dataset = dataset
        self.site_url = site_url
        self.as_of = as_of
        self.order = [m.label for m in milestones]

    def message(self, notice: Notice) -> Message:
        """The rendered message; its id depends only on the policy, recipient and entries."""
        items = [
            NoticeItem(i.key, i.milestone.name, i.milestone.label, i.due, i.deletes_at, i.fields)
            for i in notice.items
        ]
        context = notice_context(
            recipient=notice.recipient,
            items=items,
            policy=self.policy,
            dataset=self.dataset,
            site_url=self.site_url,
            now=self.as_of,
            order=self.order,
        )
        rendered = self.templates.render(context)
        seed = "\n".join(
            [
                self.policy,
                recipient_hash(notice.recipient),
                *(f"{k}:{m}" for k, m in notice.entries),
            ]
        )
        return Message(
            recipient=notice.recipient,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=f"<{hashlib.sha256(seed.encode()).hexdigest()[:40]}@lethe>",
            payload={
                "policy": self.policy,
                "dataset": self.dataset,
                "site_url": self.site_url,
                "items": [
                    {
                        "key": i.key,
                        "milestone": i.milestone,
                        "label": i.label,
                        "due": i.due.isoformat() if i.due else None,
                        "deletes_at": i.deletes_at.isoformat(),
                        "fields": {k: _jsonable(v) for k, v in i.fields.items()},
                    }
                    for i in items
                ],
            },
        )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
