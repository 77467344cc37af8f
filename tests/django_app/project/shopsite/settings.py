"""A small shop with customers and orders, for lethe's Django-app tests.

The database comes from the environment, as a deployed project's would: ``SHOP_DB`` (a SQLite
path) or ``SHOP_PG_*`` (a PostgreSQL server); ``SHOP_LETHE_CONFIG`` names the policy file.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "shopsite.urls"
ASGI_APPLICATION = "shopsite.asgi.application"
STATIC_URL = "static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "lethe.contrib.django",
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("SHOP_PG_NAME"):
    DATABASES = {
        "default": {
            "ENGINE": os.environ.get("SHOP_PG_ENGINE", "django.db.backends.postgresql"),
            "NAME": os.environ["SHOP_PG_NAME"],
            "USER": os.environ["SHOP_PG_USER"],
            "PASSWORD": os.environ.get("SHOP_PG_PASSWORD", ""),
            "HOST": os.environ["SHOP_PG_HOST"],
            "PORT": os.environ["SHOP_PG_PORT"],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
        }
    }

if os.environ.get("SHOP_STATE_DB"):  # lethe's state in its own SQLite file, seen by the admin
    DATABASES["lethe"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SHOP_STATE_DB"],
    }

if os.environ.get("SHOP_LETHE_CONFIG"):
    LETHE_CONFIG = Path(os.environ["SHOP_LETHE_CONFIG"])
if os.environ.get("SHOP_LETHE_CONFIG_BAD"):  # a test of the setting's validation
    LETHE_CONFIG = 42

EMAIL_BACKEND = os.environ.get(
    "SHOP_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
EMAIL_HOST = os.environ.get("SHOP_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("SHOP_EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = "shop@example.com"
