"""``lethe notify test ADDRESS``: one test message through the configured sender."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lethe.errors import ConfigError
from lethe.notify.base import Message, SenderConfig
from lethe.notify.smtp import SMTP

__all__ = ["TestDelivery", "pick_sender", "send_test", "senders_of"]


@dataclass(frozen=True)
class TestDelivery:
    """A test message the server accepted."""

    sender: str
    recipient: str
    reply: str


def senders_of(policies: Mapping[str, Any]) -> dict[str, SenderConfig]:
    """Per policy, the sender of its phase that sends notices (a warn phase), if any."""
    found: dict[str, SenderConfig] = {}
    for name, policy in policies.items():
        for action in policy.actions:
            sender = getattr(action, "sender", None)
            if isinstance(sender, SenderConfig):
                found[name] = sender
    return found


def pick_sender(
    configured: Mapping[str, SenderConfig], policy: str | None, env: Mapping[str, str]
) -> SenderConfig:
    """The sender to test: the named policy's, the only one configured, or SMTP from ``env``.

    ``configured`` maps each policy with a warn phase to its sender.
    """
    if policy is not None:
        if policy not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise ConfigError(f"policy {policy!r} has no warn phase (policies with one: {known})")
        return configured[policy]
    distinct = {config.model_dump_json(): config for config in configured.values()}
    if len(distinct) > 1:
        raise ConfigError(
            f"several senders are configured (policies {', '.join(sorted(configured))}); "
            "name one with --policy"
        )
    if distinct:
        return next(iter(distinct.values()))
    return SMTP.model_validate({"type": "smtp"}, context={"env": env})


def send_test(config: SenderConfig, address: str) -> TestDelivery:
    """Send one message to ``address``; raises the ``DeliveryError`` saying what failed."""
    sender = config.build()
    message = Message(
        recipient=address.strip(),
        subject="lethe test message",
        text=(
            "This is a test message from lethe (`lethe notify test`).\n"
            f"Sent through {sender.describe()}. If you read this, deletion warnings can "
            "reach this address.\n"
        ),
        html=None,
        message_id=f"<test-{pysecrets.token_hex(12)}@lethe>",
        payload={"kind": "lethe.test", "items": []},
    )
    try:
        receipt = sender.send(message)
    finally:
        sender.close()
    return TestDelivery(sender.describe(), message.recipient, receipt.reply)
