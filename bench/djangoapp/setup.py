"""Django set up on a bench database: the therapy models, lethe's app, ``DATABASES`` from a URL."""

from __future__ import annotations

import django
from django.conf import settings
from sqlalchemy.engine import make_url


def configure(url: str, *, lethe: bool = False) -> None:
    """``settings.configure`` for the database at ``url`` (PostgreSQL or SQLite), then setup;
    with ``lethe``, lethe's app is installed too (the baselines run without it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.database,
            "USER": parsed.username,
            "PASSWORD": parsed.password or "",
            "HOST": parsed.host,
            "PORT": parsed.port,
        }
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database}
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=[
            *(["django.contrib.contenttypes", "lethe.contrib.django"] if lethe else []),
            "bench.djangoapp",
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
