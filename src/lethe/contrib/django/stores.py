"""``django://ALIAS``: a store (or lethe's state) on one of the project's ``DATABASES``.

The URL is built in memory from Django's connection settings each time a policy opens it,
so the policy file names the alias and never repeats a host, user or password; the
password is registered with :mod:`lethe.secrets`, so no output, log or audit record shows
it. ``django://`` alone is the ``default`` alias.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import URL

from lethe import secrets
from lethe.errors import ConfigError

__all__ = ["database_url", "resolve"]

#: Django's database backend → SQLAlchemy's driver name (the drivers lethe's extras install).
_BACKENDS = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql+psycopg",
    "django.db.backends.mysql": "mysql+pymysql",
    # GeoDjango's backends are these databases with spatial types; lethe deletes rows only.
    "django.contrib.gis.db.backends.postgis": "postgresql+psycopg",
    "django.contrib.gis.db.backends.mysql": "mysql+pymysql",
}
#: ``OPTIONS`` of the PostgreSQL backend that are libpq connection parameters; the others
#: (``pool``, ``isolation_level``, ``server_side_binding``…) configure Django itself.
_LIBPQ = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "connect_timeout",
        "application_name",
        "options",
        "target_session_attrs",
        "service",
        "passfile",
    }
)
_MYSQL = frozenset({"charset", "ssl_ca", "ssl_cert", "ssl_key", "unix_socket"})


def resolve(url: str, where: str) -> str:
    """The SQLAlchemy URL of the alias ``url`` names (``django://default``)."""
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.username or parts.port:
        raise ConfigError(
            f"{url!r} names a Django database alias only (django://ALIAS, e.g. django://default)",
            where,
        )
    return database_url(parts.hostname or "default", where)


def database_url(alias: str, where: str = "url") -> str:
    """The SQLAlchemy URL of ``DATABASES[alias]``; ``ConfigError`` for an unknown alias or a
    backend lethe has no driver for."""
    from django.db import connections

    # Django lower-cases nothing, but urlsplit does: match the alias case-insensitively.
    names = {name.lower(): name for name in connections.settings}
    if alias.lower() not in names:
        known = ", ".join(sorted(connections.settings)) or "none"
        raise ConfigError(f"no Django database alias {alias!r} (DATABASES has: {known})", where)
    db: dict[str, Any] = connections.settings[names[alias.lower()]]
    engine = str(db.get("ENGINE", ""))
    driver = _BACKENDS.get(engine)
    if driver is None:
        raise ConfigError(
            f"Django database {alias!r} uses {engine!r}; lethe reads SQLite, PostgreSQL, "
            "MariaDB and MySQL databases",
            where,
        )
    options = db.get("OPTIONS") or {}
    if driver == "sqlite":
        return URL.create("sqlite", database=str(db.get("NAME") or "")).render_as_string()
    allowed = _LIBPQ if driver.startswith("postgresql") else _MYSQL
    query = {k: str(v) for k, v in options.items() if k in allowed and isinstance(v, str | int)}
    password = str(db.get("PASSWORD") or "") or None
    secrets.register(password)
    port = str(db.get("PORT") or "")
    return URL.create(
        driver,
        username=str(db.get("USER") or "") or None,
        password=password,
        host=str(db.get("HOST") or "") or None,
        port=int(port) if port.isdigit() else None,
        database=str(db.get("NAME") or "") or None,
        query=query,
    ).render_as_string(hide_password=False)
