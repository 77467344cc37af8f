"""Notices before deletion: senders (SMTP, webhook, Django's mail), templates, milestones,
digests, delivery.

Importing this package registers every built-in sender kind. A new kind is a module here
with a :class:`~lethe.notify.base.SenderConfig` subclass decorated by
:func:`lethe.notify.registry.register`; ``SenderField`` (the policy-file type of a warn
phase's ``sender``) is built from the registry.
"""

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from lethe.notify import django_mail, smtp, webhook
from lethe.notify.base import Message, Receipt, Sender, SenderConfig
from lethe.notify.registry import SENDERS, register

if TYPE_CHECKING:
    SenderField = SenderConfig
else:
    # Every registered sender kind, told apart by its ``type`` key.
    SenderField = Annotated[Union[tuple(SENDERS.values())], Field(discriminator="type")]  # noqa: UP007

__all__ = [
    "SENDERS",
    "Message",
    "Receipt",
    "Sender",
    "SenderConfig",
    "SenderField",
    "django_mail",
    "register",
    "smtp",
    "webhook",
]
