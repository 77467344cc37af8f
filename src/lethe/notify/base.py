"""The sender interface: how a notice leaves lethe.

A sender kind is a frozen pydantic model (its fields are the policy file's keys, so the JSON
Schema comes from the class) registered by :func:`lethe.notify.registry.register` under its
``type``; :meth:`SenderConfig.build` makes the live :class:`Sender`. Contract of a sender:

* :meth:`Sender.send` returns only once the server *accepted* the message; any other outcome
  raises a :class:`~lethe.errors.DeliveryError` subclass naming the cause: unreachable, TLS,
  authentication (each of which stops the run's other messages too), or a rejection of this
  one message (the others are still tried).
* Messages carry a stable ``message_id``; senders pass it on (``Message-ID``,
  ``Idempotency-Key``) so that a receiver can drop a copy.
* Errors and :meth:`Sender.describe` never contain a password or a webhook's secret path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["Message", "Receipt", "Sender", "SenderConfig"]


@dataclass(frozen=True)
class Message:
    """One rendered notice for one recipient."""

    recipient: str
    subject: str
    text: str
    html: str | None
    #: Stable for the same policy, recipient and items: ``<hex@lethe>``.
    message_id: str
    #: The same notice as data (policy, dataset, items), for senders that post JSON.
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """The server's acceptance."""

    reply: str


class Sender(Protocol):
    """A live connection to a mail server, a webhook, …"""

    def describe(self) -> str:
        """Where messages go, without secrets: ``smtp://mail.example.org:587 (STARTTLS)``."""
        ...

    def send(self, message: Message) -> Receipt:
        """Deliver ``message``; return once accepted, else raise a ``DeliveryError``."""
        ...

    def close(self) -> None:
        """Release the connection (sending again reconnects)."""
        ...


class SenderConfig(BaseModel, ABC):
    """Base class of every sender kind's settings (``type = "smtp"``, ``"webhook"``, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    @abstractmethod
    def build(self) -> Sender:
        """The live sender (connects lazily, on the first message)."""
