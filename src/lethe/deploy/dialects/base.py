"""What every translator shares: the refusal, and rendering a set of values as a list."""

from __future__ import annotations

from collections.abc import Callable

from lethe.deploy.fields import runs

__all__ = ["Unsupported", "compress"]


class Unsupported(Exception):
    """The dialect cannot express the schedule exactly; ``str()`` is a one-line reason."""


def compress(
    values: list[int],
    name: Callable[[int], str] = str,
    *,
    ranges: bool = True,
    dash: str = "-",
) -> str:
    """``[1, 2, 3, 4, 5, 7]`` → ``1-5,7``: runs of three or more as ranges (if ``ranges``)."""
    parts: list[str] = []
    for first, last in runs(values):
        if ranges and last - first >= 2:
            parts.append(f"{name(first)}{dash}{name(last)}")
        else:
            parts.extend(name(v) for v in range(first, last + 1))
    return ",".join(parts)
