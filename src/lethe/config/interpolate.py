"""``${VAR}`` and ``${VAR:-default}`` substitution in policy-file strings.

Substituted values are tracked as secrets when they land in a store URL, so the resolved
password never reaches output: see :func:`lethe.config.model.redact_url`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lethe.errors import ConfigError

__all__ = ["interpolate"]

_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``text``; ``$$`` is a literal ``$``.

    An unset variable without a default is a :class:`ConfigError` naming ``where``; an
    empty ``${VAR:-default}`` takes the default, as in POSIX shells.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value
        raise ConfigError(f"environment variable {name} is not set and has no default", where)

    if "$" not in text:
        return text
    return _PATTERN.sub(replace, text)
