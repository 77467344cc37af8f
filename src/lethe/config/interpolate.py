"""``${VAR}`` and ``${VAR:-default}`` substitution in policy-file strings.

Substituted values are tracked as secrets when they land in a store URL, so the resolved
password never reaches output: see :func:`lethe.config.model.redact_url`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lethe.errors import ConfigError

__all__ = ["interpolate"]

_PATTERN = re.compile(r"\$\$|\$\{(?P<body>[^}]*)(?P<close>\})?")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.S)


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``text``; ``$$`` is a literal ``$``.

    An unset variable without a default is a :class:`ConfigError` naming ``where``; an
    empty ``${VAR:-default}`` takes the default, as in POSIX shells. A ``${`` that is not one
    of these forms (no closing brace, ``${1BAD}``, ``${VAR-x}``, a nested ``${…}``) is refused
    rather than kept as literal text.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = match.group("body")
        if match.group("close") is None:
            raise ConfigError(f"{match.group(0)!r} has no closing brace: write ${{NAME}}", where)
        parsed = _BODY.fullmatch(body)
        if parsed is None or "${" in (parsed.group("default") or ""):
            raise ConfigError(
                f"{match.group(0)!r} is not ${{NAME}} or ${{NAME:-default}} (a name is letters, "
                "digits and _, not starting with a digit; defaults cannot nest; $$ is a "
                "literal $)",
                where,
            )
        name, default = parsed.group("name"), parsed.group("default")
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
