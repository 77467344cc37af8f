"""Whether two URLs name one database, so that one transaction can write to both.

lethe's state may live in the application's own database (``[state] url`` the same as a
store's): a batch then appends its audit inside the store's transaction
(:class:`lethe.stores.base.SharesTransaction`). "The same" is judged on the resolved URLs:
SQLite the same file, a server the same backend, host, port, database and user (another user
could lack the grants on lethe's tables, so it keeps the separate path).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["same_database"]

_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}


@lru_cache(maxsize=64)  # asked once per batch, with the same two URLs
def same_database(a: str | URL, b: str | URL) -> bool:
    """True when ``a`` and ``b`` open the same database (never for in-memory SQLite)."""
    left, right = _identity(a), _identity(b)
    return left is not None and left == right


def _identity(url: str | URL) -> tuple[object, ...] | None:
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return None
    backend = parsed.get_backend_name()
    database = parsed.database or ""
    if backend == "sqlite":
        if database in ("", ":memory:") or "mode=memory" in database:
            return None
        path = database.removeprefix("file:").split("?", 1)[0]
        return (backend, Path(path).resolve())
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = parsed.port or _PORTS.get(backend)
    return (backend, str(host), port, database, parsed.username)
