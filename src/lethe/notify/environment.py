"""Defaults read from the environment while a policy file is validated.

The loader passes the environment it interpolates ``${VAR}`` from as pydantic's validation
context (``{"env": …}``), so that ``Lethe.from_toml(text, env=…)`` sees the same variables for
both; models validated without one (built in code) read ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import ValidationInfo

__all__ = ["environment", "truthy"]


def environment(info: ValidationInfo) -> Mapping[str, str]:
    """The environment this validation reads defaults from."""
    context = info.context
    if isinstance(context, Mapping):
        env = context.get("env")
        if isinstance(env, Mapping):
            return env
    return os.environ


def truthy(value: str | None) -> bool:
    """Django-style booleans in environment variables: ``1``, ``true``, ``yes``, ``on``."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
