"""How values read in the terminal: instants, durations, counts, long names."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

__all__ = ["duration", "json_value", "middle", "plural", "stamp"]


def stamp(value: datetime | str | None) -> str:
    """``2024-10-26 02:00:00 UTC`` (to the second; ``-`` for none)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_UNITS = (("d", 86400), ("h", 3600), ("min", 60))


def duration(value: timedelta | float) -> str:
    """``0.12 s``, ``42 s``, ``15 min``, ``2 h 30 min``, ``3 d 4 h``: two units at most."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        return f"-{duration(-seconds)}"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    parts: list[str] = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if count or parts:
            parts.append(f"{count} {unit}")
    if whole:
        parts.append(f"{whole} s")
    shown = [p for p in parts[:2] if not p.startswith("0 ")]
    return " ".join(shown)


def plural(count: int, noun: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def middle(text: str, width: int) -> str:
    """``text`` shortened from the middle to ``width`` characters (its start and end stay)."""
    if len(text) <= width or width < 5:
        return text
    keep = width - 1
    return f"{text[: (keep + 1) // 2]}…{text[len(text) - keep // 2 :]}"


def json_value(value: Any) -> Any:
    """``json.dumps``'s ``default``: instants in ISO 8601, dataclasses as their fields."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return str(value)
