"""The Django application that ``INSTALLED_APPS`` names as ``"lethe.contrib.django"``."""

from __future__ import annotations

from django.apps import AppConfig


class LetheConfig(AppConfig):
    """lethe's app: its label is ``lethe`` (``manage.py lethe``, admin, signals)."""

    name = "lethe.contrib.django"
    label = "lethe"
    verbose_name = "lethe data retention"
    default_auto_field = "django.db.models.BigAutoField"
