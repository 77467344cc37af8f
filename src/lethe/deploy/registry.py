"""The typed registry of deployment targets: ``lethe deploy NAME`` picks ``TARGETS[NAME]``."""

from __future__ import annotations

from collections.abc import Callable

from lethe.deploy.base import Target

__all__ = ["TARGETS", "register"]

TARGETS: dict[str, type[Target]] = {}


def register(name: str) -> Callable[[type[Target]], type[Target]]:
    """Class decorator: make a :class:`Target` available as ``lethe deploy NAME``."""

    def decorate(cls: type[Target]) -> type[Target]:
        if name in TARGETS:
            raise ValueError(f"deployment target {name!r} is registered twice")
        cls.name = name
        TARGETS[name] = cls
        return cls

    return decorate
