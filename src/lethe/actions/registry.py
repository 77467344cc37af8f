"""The registry of phase types: ``type = "purge"`` in a policy file → :class:`Purge`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lethe.actions.base import Action

__all__ = ["ACTIONS", "register"]

ACTIONS: dict[str, type[Action]] = {}

A = TypeVar("A", bound=type[Action])


def register(name: str) -> Callable[[A], A]:
    """Class decorator: make an action available as ``type = name`` in policy files."""

    def decorate(cls: A) -> A:
        if name in ACTIONS:
            raise RuntimeError(f"action type {name!r} registered twice")
        ACTIONS[name] = cls
        return cls

    return decorate
