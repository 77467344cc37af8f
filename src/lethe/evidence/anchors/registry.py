"""The registry of anchor kinds: ``type = "file"`` in ``[[evidence.anchors]]`` → its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lethe.evidence.anchors.base import AnchorConfig

__all__ = ["ANCHORS", "register"]

ANCHORS: dict[str, type[AnchorConfig]] = {}

A = TypeVar("A", bound=type[AnchorConfig])


def register(name: str) -> Callable[[A], A]:
    """Class decorator: make an anchor kind available as ``type = name``."""

    def decorate(cls: A) -> A:
        if name in ANCHORS:
            raise RuntimeError(f"anchor type {name!r} registered twice")
        ANCHORS[name] = cls
        return cls

    return decorate
