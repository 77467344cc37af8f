"""Sending notices exactly once: claim, send, record — one message at a time.

For each notice: claim its (item, milestone) pairs in the delivery ledger (committed before
anything leaves), send what was won, then mark the pairs delivered together with their
``warned`` audit events, or failed so that a later run tries again. An outage, a TLS or a
login failure stops the run's remaining messages (they would fail alike); a rejection of one
message (a bad address, a 4xx/5xx reply) does not.

A connection lost after the message was handed over leaves its outcome *unknown*: the pairs
are flagged ``unknown`` with the Message-ID sent, never resent by this run (it stops like an
outage), and the next run sends that message again on its own, under the same Message-ID, with
``resent_after_unknown_outcome`` on its ``warned`` events — even when the recipient's digest has
gained items since, which go in a message of their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from lethe.errors import DeliveryError, DeliveryRejectedError, DeliveryUnknownError
from lethe.notify.base import Message, Sender
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
    #: Warnings handed over without an answer (the connection dropped): maybe delivered.
    unknown: int = 0
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
    """Claim one notice, then send what was won (raises a stopping ``DeliveryError`` after
    recording it; a rejection is recorded and swallowed)."""
    intended = composer.message(notice)
    claim = ledger.claim(
        policy=sending.policy,
        dataset=sending.dataset,
        run_id=sending.run_id,
        entries=notice.entries,
        recipient_sha256=recipient_hash(notice.recipient),
        message_id=intended.message_id,
    )
    if not claim.entries:
        return  # another run or replica has it
    try:
        parts = _messages(notice, claim, composer, intended)
    except ValueError:
        ledger.failed(sending.policy, sending.run_id, claim.entries, "a template failed")
        raise
    for index, (part, message) in enumerate(parts):
        fresh = [e for e in part.entries if e not in claim.previous]
        if fresh and message.message_id != intended.message_id:
            ledger.relabel(sending.policy, sending.run_id, fresh, message.message_id)
        try:
            _send(part, message, claim, sender, ledger, sending, report)
        except DeliveryRejectedError:
            continue
        except DeliveryError:
            for later, _ in parts[index + 1 :]:
                ledger.failed(sending.policy, sending.run_id, later.entries, "not attempted")
                report.unattempted += len(later.items)
            raise


def _messages(
    notice: Notice, claim: Claim, composer: Composer, intended: Message
) -> list[tuple[Notice, Message]]:
    """The messages for the pairs won: a copy of every message whose outcome is unknown, alone
    and under its Message-ID (so a receiver that has it drops it, even when the digest has
    since gained or lost items), then one digest of the rest."""
    mine = notice.only(claim.entries)
    copies: dict[str, list[tuple[str, str]]] = {}
    for entry in claim.resumed:
        copies.setdefault(claim.previous[entry], []).append(entry)
    rest = [e for e in mine.entries if e not in claim.previous]
    parts: list[tuple[Notice, Message]] = []
    for message_id, entries in copies.items():
        part = mine.only(entries)
        parts.append((part, replace(composer.message(part), message_id=message_id)))
    if rest:
        part = mine.only(rest)
        parts.append((part, intended if part == notice else composer.message(part)))
    return parts


def _send(
    part: Notice,
    message: Message,
    claim: Claim,
    sender: Sender,
    ledger: DeliveryLedger,
    sending: Sending,
    report: DeliveryReport,
) -> None:
    """Send one message and record its outcome: delivered, unknown or failed."""
    hashed = recipient_hash(part.recipient)
    entries = part.entries
    keys = ", ".join(key for key, _ in entries)
    about = f"deletion warning for {sending.dataset} {keys} (recipient sha256:{hashed[:12]})"
    try:
        receipt = sender.send(message)
    except DeliveryUnknownError as exc:
        reason = redact_addresses(str(exc), part.recipient)  # never an address in clear
        ledger.unknown(sending.policy, sending.run_id, entries, reason, message.message_id)
        report.unknown += len(entries)
        report.errors.append(
            f"{about}: outcome unknown: {reason}; not resent by this run, the next run resends "
            f"it under the same Message-ID {message.message_id}"
        )
        raise
    except DeliveryError as exc:
        reason = redact_addresses(str(exc), part.recipient)
        ledger.failed(sending.policy, sending.run_id, entries, reason)
        report.failed += len(entries)
        report.errors.append(f"{about} not delivered: {reason}; the next run tries again")
        raise
    resumed = set(claim.resumed) & set(entries)
    details = {
        "recipient_sha256": hashed,
        "message_id": message.message_id,
        "sender": sender.describe(),
        "reply": receipt.reply,
    }
    events = _warned(sending, entries, resumed, details)
    ledger.delivered(sending.policy, sending.run_id, entries, message.message_id, events)
    report.delivered.extend(entries)
    report.messages += 1
    report.resent += len(resumed)


def _warned(
    sending: Sending,
    entries: Sequence[tuple[str, str]],
    resumed: set[tuple[str, str]],
    details: dict[str, str],
) -> list[EventDraft]:
    """One ``warned`` audit event per item and milestone of a delivered message."""
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
        for key, milestone in entries
    ]
