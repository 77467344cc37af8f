"""How instants and spans read in messages: ``2024-10-26 02:00:00 UTC``, ``15 min``.

Every human-facing line (CLI output, problems reported by health checks, job notes) uses these;
machine documents keep ISO 8601 and seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["duration", "stamp"]


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
