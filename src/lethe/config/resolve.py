"""Datasets by model (``model = "app.Model"``): turned into ordinary table datasets on load.

A framework integration registers one resolver (``lethe.contrib.django`` does when its app is
ready). The resolver returns the whole policy with every dataset by model replaced by a table
dataset (table, key, columns, hold table, the cascade as listed edges with their treatments) and
every recipient by field replaced by columns, so nothing after loading knows a framework exists.
"""

from __future__ import annotations

from collections.abc import Callable

from lethe.config.model import LetheConfig
from lethe.errors import ConfigError

__all__ = ["ModelResolver", "register_model_resolver", "resolve_models"]

#: ``resolve(config, source)`` → the config with no dataset by model left; raises
#: :class:`ConfigError` naming the unknown app, model or field.
ModelResolver = Callable[[LetheConfig, str], LetheConfig]

_RESOLVER: list[ModelResolver] = []


def register_model_resolver(resolver: ModelResolver) -> None:
    """Resolve datasets by model with ``resolver`` from now on (one per process)."""
    _RESOLVER[:] = [resolver]


def resolve_models(config: LetheConfig, source: str) -> LetheConfig:
    """``config`` with its datasets by model resolved; unchanged when it has none."""
    by_model = [name for name, ds in config.datasets.items() if ds.model is not None]
    if not by_model:
        return config
    if not _RESOLVER:
        raise ConfigError(
            'a dataset by model needs its framework set up: add "lethe.contrib.django" to '
            "INSTALLED_APPS and run `python manage.py lethe`",
            f"{source}: datasets.{by_model[0]}.model",
        )
    return _RESOLVER[0](config, source)
