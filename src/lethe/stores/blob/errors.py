"""Translating obstore's exceptions into lethe's, once, at the store boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from obstore.exceptions import BaseError

from lethe import secrets
from lethe.errors import StoreError

__all__ = ["translate"]


@contextmanager
def translate(label: str) -> Iterator[None]:
    """Raise :class:`StoreError` naming ``label`` for any failure of the object store."""
    try:
        yield
    except (BaseError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{label}: {secrets.scrub(first)}") from exc
