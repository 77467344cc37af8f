"""The Django application that ``INSTALLED_APPS`` names as ``"lethe.contrib.django"``."""

from __future__ import annotations

from django.apps import AppConfig


class LetheConfig(AppConfig):
    """lethe's app: its label is ``lethe`` (``manage.py lethe``, admin, signals)."""

    name = "lethe.contrib.django"
    label = "lethe"
    verbose_name = "lethe data retention"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lethe.config.resolve import register_model_resolver
        from lethe.contrib.django.resolve import resolve_config

        register_model_resolver(resolve_config)
