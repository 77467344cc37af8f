"""Translating obstore's exceptions into lethe's, once, at the store boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from obstore.exceptions import BaseError

from lethe import secrets
from lethe.errors import StoreError

__all__ = ["first_line", "translate"]


def first_line(exc: BaseException) -> str:
    """The first line of an obstore error: the message, without the Rust debug dump after it."""
    text = str(exc).strip()
    return secrets.scrub(text.splitlines()[0] if text else type(exc).__name__)


@contextmanager
def translate(label: str) -> Iterator[None]:
    """Raise :class:`StoreError` naming ``label`` for any failure of the object store."""
    try:
        yield
    except (BaseError, OSError) as exc:
        raise StoreError(f"{label}: {first_line(exc)}") from exc
