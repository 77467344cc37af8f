"""Validibot's settings, cut to what its scheduled housekeeping touches: the database from
``DATABASE_URL``, uploads in ``MEDIA_ROOT`` (Django's ``STORAGES``), lethe's policy file in
``LETHE_CONFIG``."""

import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

BASE_DIR = Path(__file__).resolve().parent.parent


def database(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry from a SQLAlchemy-style URL (``postgresql://…``, ``sqlite:///…``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "",
        "PORT": str(parsed.port or ""),
    }


SECRET_KEY = os.environ.get("SECRET_KEY", "validibot-example-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "lethe.contrib.django",
    "validibot.api",
    "validibot.submissions",
    "validibot.validations",
    "validibot.core",
]
DATABASES = {
    "default": database(os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR}/validibot.db"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Australia/Sydney"
ROOT_URLCONF = "config.urls"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LETHE_CONFIG = os.environ.get("LETHE_CONFIG", str(BASE_DIR / "lethe.toml"))
