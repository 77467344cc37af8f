"""lethe's Django settings.

``LETHE_CONFIG``
    The policy file (a ``str`` or ``Path``; a relative path is taken from the working
    directory, so ``BASE_DIR / "lethe.toml"`` is the usual value). Unset: lethe's own
    default (the ``LETHE_CONFIG`` environment variable, else ``lethe.toml``).
"""

from __future__ import annotations

import os

__all__ = ["config_path"]


def config_path() -> str | None:
    """The policy file ``settings.LETHE_CONFIG`` names, or None when it is unset."""
    from django.conf import settings

    value = getattr(settings, "LETHE_CONFIG", None)
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        from lethe.errors import ConfigError

        raise ConfigError(
            f"must be a path (str or Path), not {type(value).__name__}", "settings.LETHE_CONFIG"
        )
    return os.fspath(value)
