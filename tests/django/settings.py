"""Settings of the test project that Django's own ``delete()`` is compared with (the oracle of
tests/test_django_differential.py). The databases come from the environment so one process
can migrate an SQLite file and a PostgreSQL database: ``LETHE_DJANGO_SQLITE`` (a path) and
``LETHE_DJANGO_PG`` (``host:port:name:user``, optional)."""

from __future__ import annotations

import os

SECRET_KEY = "test-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
MEDIA_ROOT = os.environ.get("LETHE_DJANGO_MEDIA", "/tmp/lethe-django-media")
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "auditlog",
    "taggit",
    "django_comments",
    "lethe.contrib.django",
    "tests.django.oracle",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LETHE_DJANGO_SQLITE", ":memory:"),
    }
}
if os.environ.get("LETHE_DJANGO_PG"):
    host, port, name, user = os.environ["LETHE_DJANGO_PG"].split(":")
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": host,
        "PORT": port,
        "NAME": name,
        "USER": user,
    }
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
