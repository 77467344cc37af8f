"""Sending notices exactly once: claim, send, record — one message at a time.

For each notice: claim its (item, milestone) pairs in the delivery ledger (committed before
anything leaves), send what was won, then mark the pairs delivered together with their
``warned`` audit events, or failed so that a later run tries again. An outage, a TLS or a
login failure stops the run's remaining messages (they would fail alike); a rejection of one
message (a bad address, a 4xx/5xx reply) does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lethe.errors import DeliveryError, DeliveryRejectedError
from lethe.notify.base import Sender
from lethe.notify.digest import Composer, Notice, recipient_hash
from lethe.state.deliveries import Claim, DeliveryLedger
from lethe.state.ledger import EventDraft

__all__ = ["DeliveryReport", "deliver", "redact_addresses"]

# Anything shaped like an address: a server's reply may echo the recipient in another case, or
# name other mailboxes (a forwarding target, the postmaster). Quoted local parts count too.
_ADDRESS = re.compile(r'<?(?:"[^"\n]*"|[^\s<>()\[\],;:"\'@]+)@[^\s<>()\[\],;:"\'@]+>?')


def redact_addresses(text: str, recipient: str = "") -> str:
    """``text`` with ``recipient`` (in any case) as ``<recipient>`` and any other
    address-shaped token as ``<address>``: what reaches ledger rows, run records and logs."""
    if recipient.strip():
        mine = f"<?{re.escape(recipient.strip())}>?"
        text = re.sub(mine, "<recipient>", text, flags=re.IGNORECASE)
    return _ADDRESS.sub("<address>", text)


@dataclass
class DeliveryReport:
    """What a run's sending did."""

    delivered: list[tuple[str, str]] = field(default_factory=list)
    messages: int = 0
    #: Warnings sent but not accepted.
    failed: int = 0
    #: Warnings not tried because the sender became unavailable.
    unattempted: int = 0
    resent: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sending:
    """Where and as what a phase sends."""

    policy: str
    dataset: str
    run_id: str
    phase: int
    as_of: datetime


def deliver(
    notices: Sequence[Notice],
    composer: Composer,
    sender: Sender,
    ledger: DeliveryLedger,
    sending: Sending,
) -> DeliveryReport:
    """Send every notice at most once across all runs and replicas; see the module docstring."""
    report = DeliveryReport()
    stopped: DeliveryError | None = None
    try:
        for notice in notices:
            if stopped is not None:
                report.unattempted += len(notice.items)
                continue
            try:
                _one(notice, composer, sender, ledger, sending, report)
            except DeliveryRejectedError:
                continue
            except ValueError as exc:  # a template failed on this notice's values
                report.failed += len(notice.items)
                reason = redact_addresses(str(exc), notice.recipient)
                report.errors.append(f"deletion warning not sent: {reason}")
            except DeliveryError as exc:
                stopped = exc
    finally:
        sender.close()
    if report.unattempted:
        report.errors.append(
            f"{report.unattempted} more deletion warnings not attempted: the sender is "
            "unavailable; the next run tries again"
        )
    return report


def _one(
    notice: Notice,
    composer: Composer,
    sender: Sender,
    ledger: DeliveryLedger,
    sending: Sending,
    report: DeliveryReport,
) -> None:
    """Claim, send, record one notice (raises the ``DeliveryError`` after recording it)."""
    hashed = recipient_hash(notice.recipient)
    intended = composer.message(notice)
    claim = ledger.claim(
        policy=sending.policy,
        dataset=sending.dataset,
        run_id=sending.run_id,
        entries=notice.entries,
        recipient_sha256=hashed,
        message_id=intended.message_id,
    )
    if not claim.entries:
        return  # another run or replica has it
    mine = notice.only(claim.entries)
    message = intended if mine == notice else composer.message(mine)
    try:
        receipt = sender.send(message)
    except DeliveryError as exc:
        reason = redact_addresses(str(exc), notice.recipient)  # never an address in clear
        ledger.failed(sending.policy, sending.run_id, claim.entries, reason)
        report.failed += len(claim.entries)
        keys = ", ".join(key for key, _ in claim.entries)
        report.errors.append(
            f"deletion warning for {sending.dataset} {keys} (recipient sha256:{hashed[:12]}) "
            f"not delivered: {reason}; the next run tries again"
        )
        raise
    details = {
        "recipient_sha256": hashed,
        "message_id": message.message_id,
        "sender": sender.describe(),
        "reply": receipt.reply,
    }
    events = _warned(sending, claim, details)
    ledger.delivered(sending.policy, sending.run_id, claim.entries, message.message_id, events)
    report.delivered.extend(claim.entries)
    report.messages += 1
    report.resent += len(claim.resumed)


def _warned(sending: Sending, claim: Claim, details: dict[str, str]) -> list[EventDraft]:
    """One ``warned`` audit event per item and milestone of a delivered message."""
    resumed = set(claim.resumed)
    return [
        EventDraft(
            run_id=sending.run_id,
            event="warned",
            policy=sending.policy,
            dataset=sending.dataset,
            phase=sending.phase,
            item_key=key,
            details={
                "milestone": milestone,
                **details,
                # The first attempt's outcome was unknown: this may be a second copy.
                **({"resent_after_unknown_outcome": True} if (key, milestone) in resumed else {}),
            },
        )
        for key, milestone in claim.entries
    ]
