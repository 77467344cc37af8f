"""The Django test project of tests/django/, set up once per test session: migrated by
Django's own ``migrate`` into an SQLite file that each test copies (``fresh_copy``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
