"""URL schemes that name a connection the host application already holds.

A framework integration registers a resolver for its scheme (``lethe.contrib.django``:
``django://default`` is the ``default`` entry of Django's ``DATABASES``), so a policy file
names the application's connection instead of repeating its URL and password. The resolved
URL exists in memory only; its credentials are registered with :mod:`lethe.secrets` so no
output or log shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lethe.errors import ConfigError

__all__ = [
    "RESOLVERS",
    "UrlResolver",
    "fill_store_urls",
    "register_resolver",
    "resolve_alias",
    "scheme_of",
]

#: ``resolve(url, where)`` → the real URL; ``where`` names the key in error messages.
UrlResolver = Callable[[str, str], str]

#: scheme → resolver; empty unless an integration registered one.
RESOLVERS: dict[str, UrlResolver] = {}

#: Where a scheme's resolver comes from, for the message when it is missing.
_PROVIDERS = {"django": "lethe.contrib.django (run the command as `python manage.py lethe`)"}


#: The scheme that names a store's connection when the policy gives none (``django``: a store
#: without ``url`` is ``django://NAME``; a policy without stores has ``default``).
_DEFAULT_SCHEME: list[str] = []


def register_resolver(scheme: str, resolver: UrlResolver, *, default: bool = False) -> None:
    """Resolve ``scheme://…`` URLs with ``resolver`` from now on; with ``default``, a store
    that names no URL is the host application's connection of the same name."""
    RESOLVERS[scheme] = resolver
    if default:
        _DEFAULT_SCHEME[:] = [scheme]


def fill_store_urls(data: dict[str, Any]) -> dict[str, Any]:
    """The raw policy ``data`` with the host application's connections filled in where it
    names none: no ``[stores]`` at all is ``stores.default``, a store without ``url`` is the
    connection of its name. Unchanged when no integration registered a default scheme."""
    if not _DEFAULT_SCHEME:
        return data
    scheme = _DEFAULT_SCHEME[0]
    stores = data.get("stores", {"default": {}})
    if not isinstance(stores, dict):
        return data  # validation reports it
    filled = {
        name: {"url": f"{scheme}://{name}", **store}
        if isinstance(store, dict) and "url" not in store
        else store
        for name, store in stores.items()
    }
    return {**data, "stores": filled}


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
