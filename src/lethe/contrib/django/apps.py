"""The Django application that ``INSTALLED_APPS`` names as ``"lethe.contrib.django"``."""

from __future__ import annotations

from django.apps import AppConfig


class LetheConfig(AppConfig):
    """lethe's app: its label is ``lethe`` (``manage.py lethe``, admin, signals).

    When the project starts, policy URLs ``django://ALIAS`` begin resolving to the project's
    ``DATABASES`` (:mod:`lethe.contrib.django.stores`), and every committed batch sends the
    ``batch_committed`` signal (:mod:`lethe.contrib.django.signals`).
    """

    name = "lethe.contrib.django"
    label = "lethe"
    verbose_name = "lethe data retention"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lethe.config.resolve import register_model_resolver
        from lethe.config.urls import register_resolver
        from lethe.contrib.django.resolve import resolve_config
        from lethe.contrib.django.signals import send_batch_committed
        from lethe.contrib.django.stores import resolve
        from lethe.engine.hooks import add_batch_listener

        register_model_resolver(resolve_config)
        register_resolver("django", resolve, default=True)
        add_batch_listener(send_batch_committed)
