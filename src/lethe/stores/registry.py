"""Stores selected by URL scheme: ``postgresql://…``, ``sqlite:///…``, ``s3://…``, ``redis://…``."""

from __future__ import annotations

from collections.abc import Callable

from lethe import secrets
from lethe.errors import ConfigError
from lethe.stores.base import Store

__all__ = ["STORES", "open_store", "register"]

StoreFactory = Callable[[str, str], Store]

#: URL scheme (the part before ``://`` and any ``+driver``) → factory(name, url).
STORES: dict[str, StoreFactory] = {}


def register(*schemes: str) -> Callable[[StoreFactory], StoreFactory]:
    """Decorator: serve ``schemes`` with the decorated factory."""

    def decorate(factory: StoreFactory) -> StoreFactory:
        for scheme in schemes:
            STORES[scheme] = factory
        return factory

    return decorate


def open_store(name: str, url: str) -> Store:
    """The store for ``url``, chosen by its scheme."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    factory = STORES.get(scheme)
    if factory is None:
        raise ConfigError(
            f"unsupported store URL {secrets.redact_url(url)!r}; "
            f"supported schemes: {', '.join(sorted(STORES))}",
            f"stores.{name}.url",
        )
    return factory(name, url)


@register("sqlite", "postgresql", "postgres", "mysql", "mariadb")
def _sql(name: str, url: str) -> Store:
    from lethe.stores.sql.store import SQLStore

    return SQLStore(name, url)


@register("file", "s3", "gs", "az", "abfs", "azure")
def _blob(name: str, url: str) -> Store:
    from lethe.stores.blob.store import BlobStore

    return BlobStore(name, url)


@register("redis", "rediss")
def _redis(name: str, url: str) -> Store:
    from lethe.stores.redis.store import RedisStore

    return RedisStore(name, url)
