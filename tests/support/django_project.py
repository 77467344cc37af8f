"""The Django test project of tests/django/, set up once per test session: migrated by
Django's own ``migrate`` into an SQLite file that each test copies (``fresh_copy``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

TEMPLATE = "template.db"

#: Django is configured once per process: the template every later call returns.
_SET_UP: list[Path] = []


def setup(directory: Path) -> Path:
    """Configure Django with tests.django.settings on ``directory``/template.db, migrate it
    and create the sentinel user (pk 1) that SET_DEFAULT and SET() hand rows to."""
    import django

    if _SET_UP:
        return _SET_UP[0]
    template = directory / TEMPLATE
    given = {
        "DJANGO_SETTINGS_MODULE": "tests.django.settings",
        "LETHE_DJANGO_SQLITE": str(template),
        "LETHE_DJANGO_MEDIA": str(directory / "media"),
    }
    before = {name: os.environ.get(name) for name in given}
    os.environ.update(given)
    try:
        django.setup()
    finally:
        # Settings are read by now; subprocesses of other tests (manage.py) must not inherit them.
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, skip_checks=True)
    User.objects.create(pk=1, username="sentinel", date_joined="2999-01-01T00:00:00Z")
    connections.close_all()
    _SET_UP.append(template)
    return template


def use(template: Path, target: Path) -> None:
    """Point Django's default database at a fresh copy of the migrated template."""
    from django.db import connections

    connections.close_all()
    shutil.copyfile(template, target)
    connections["default"].settings_dict["NAME"] = str(target)


def add_postgres(alias: str, url: str) -> None:
    """Add ``DATABASES[alias]`` for the PostgreSQL database of SQLAlchemy ``url``."""
    from django.db import connections
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username,
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host,
        "PORT": str(parsed.port or ""),
    }
    configured = connections.configure_settings({"default": entry, alias: entry})
    connections.settings[alias] = configured[alias]


def swap_default(target: str | dict[str, Any]) -> dict[str, Any]:
    """Make Django's default alias the PostgreSQL database of SQLAlchemy URL ``target`` (or
    the settings ``target`` gives); the settings it had before."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    before = dict(connections.settings["default"])
    connections.close_all()
    if isinstance(target, str):
        add_postgres("default", target)
    else:
        connections.settings["default"] = target
    del connections["default"]
    ContentType.objects.clear_cache()  # its ids are per database
    return before


def migrate_postgres(alias: str) -> None:
    """Migrate ``alias`` with Django's ``migrate`` and add the sentinel user."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", database=alias, verbosity=0, skip_checks=True)
    # Without an explicit pk, so the sequence stays ahead of it (a fresh database: pk 1).
    sentinel = User.objects.db_manager(alias).create(
        username="sentinel", date_joined="2999-01-01T00:00:00Z"
    )
    assert sentinel.pk == 1
    connections[alias].close()


def point(alias: str, database: str) -> None:
    """Point ``alias`` (PostgreSQL) at another database of its server."""
    from django.db import connections

    connections[alias].close()
    connections.settings[alias]["NAME"] = database
    connections[alias].settings_dict["NAME"] = database
