"""Where the admin finds lethe's state: the policy file (``settings.LETHE_CONFIG``) loaded
once per change of the file, and the Django database alias its ``state.url`` names."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lethe.api import Lethe
from lethe.config.loader import DEFAULT_CONFIG
from lethe.contrib.django.conf import config_path
from lethe.errors import ConfigError

__all__ = ["StateNotInDjango", "policy", "state_alias"]

_lock = threading.Lock()
_cached: dict[tuple[str, float], Lethe] = {}


class StateNotInDjango(ConfigError):
    """lethe's state is not in one of the project's databases, so the admin cannot read it."""


def policy() -> Lethe:
    """The project's policy, reloaded when its file changes (a new ``mtime``)."""
    path = config_path() or os.environ.get("LETHE_CONFIG", DEFAULT_CONFIG)
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        mtime = 0.0
    key = (str(path), mtime)
    with _lock:
        found = _cached.get(key)
        if found is None:
            for old in _cached.values():
                old.close()
            _cached.clear()
            found = _cached[key] = Lethe.from_file(path)
        return found


def state_alias() -> str:
    """The ``DATABASES`` alias of ``state.url = "django://ALIAS"``."""
    url = policy().settings.config.state.url
    if not url.lower().startswith("django://"):
        raise StateNotInDjango(
            "lethe's state is not in a Django database: to see holds and runs in the admin, "
            'point state.url at a DATABASES alias (state.url = "django://default" on '
            'PostgreSQL, or a "lethe" alias for its own SQLite file)',
            "state.url",
        )
    return url[len("django://") :].strip("/") or "default"
