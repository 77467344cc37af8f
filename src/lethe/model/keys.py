"""Item keys: the primary-key value of a row, an object name, a Redis key.

Keys travel as their native type inside a run (so SQL compares integers as integers) and as
text everywhere they are persisted or compared across stores (holds, audit, plan files).
"""

from __future__ import annotations

from typing import TypeAlias
from uuid import UUID

__all__ = ["ItemKey", "key_text"]

ItemKey: TypeAlias = int | str | UUID


def key_text(key: ItemKey) -> str:
    """The canonical text of a key, as stored in holds, plan files and audit events."""
    return str(key)
