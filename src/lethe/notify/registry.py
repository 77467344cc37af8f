"""The registry of sender kinds: ``sender = { type = "smtp" }`` in a policy file → :class:`SMTP`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lethe.notify.base import SenderConfig

__all__ = ["SENDERS", "register"]

SENDERS: dict[str, type[SenderConfig]] = {}

S = TypeVar("S", bound=type[SenderConfig])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: make a sender kind available as ``type = name``."""

    def decorate(cls: S) -> S:
        if name in SENDERS:
            raise RuntimeError(f"sender type {name!r} registered twice")
        SENDERS[name] = cls
        return cls

    return decorate
