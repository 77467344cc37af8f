"""URL schemes that name a connection the host application already holds.

A framework integration registers a resolver for its scheme (``lethe.contrib.django``:
``django://default`` is the ``default`` entry of Django's ``DATABASES``), so a policy file
names the application's connection instead of repeating its URL and password. The resolved
URL exists in memory only; its credentials are registered with :mod:`lethe.secrets` so no
output or log shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from lethe.errors import ConfigError

__all__ = ["RESOLVERS", "UrlResolver", "register_resolver", "resolve_alias", "scheme_of"]

#: ``resolve(url, where)`` → the real URL; ``where`` names the key in error messages.
UrlResolver = Callable[[str, str], str]

#: scheme → resolver; empty unless an integration registered one.
RESOLVERS: dict[str, UrlResolver] = {}

#: Where a scheme's resolver comes from, for the message when it is missing.
_PROVIDERS = {"django": "lethe.contrib.django (run the command as `python manage.py lethe`)"}


def register_resolver(scheme: str, resolver: UrlResolver) -> None:
    """Resolve ``scheme://…`` URLs with ``resolver`` from now on."""
    RESOLVERS[scheme] = resolver


def scheme_of(url: str) -> str:
    """The part of ``url`` before ``://`` (lower case), or ``""``."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def resolve_alias(url: str, where: str) -> str | None:
    """The real URL behind ``url`` when its scheme is a registered alias scheme, else None."""
    scheme = scheme_of(url)
    resolver = RESOLVERS.get(scheme)
    if resolver is not None:
        return resolver(url, where)
    if scheme in _PROVIDERS:
        raise ConfigError(f"{url!r} is resolved by {_PROVIDERS[scheme]}", where)
    return None
