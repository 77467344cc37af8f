"""Redis as a lethe store: ``redis://[user:password@]host:6379/0`` or ``rediss://`` (TLS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from lethe import secrets
from lethe.config.datasets import DatasetConfig
from lethe.errors import ConfigError, StoreError
from lethe.stores.base import DatasetUse, Finding
from lethe.stores.redis.dataset import IDLE_SINCE, SCAN_COUNT, RedisDataset

__all__ = ["RedisStore", "acl_rule"]


def acl_rule(uses: Sequence[DatasetUse], role: str) -> str:
    """The ``ACL SETUSER`` rule: the datasets' key patterns and the commands lethe sends
    (``eval_ro`` runs the read-only page script, whose own calls are checked too)."""
    commands = {"eval_ro", "ping", "scan", "type"}
    for use in uses:
        if any(not column.startswith("@") for column in use.reads):
            commands.add("hmget")
        if IDLE_SINCE in use.reads:
            commands.add("object|idletime")
        if use.deletes:
            commands.add("unlink")
    patterns = " ".join(f"~{use.config.pattern}" for use in uses)
    allowed = " ".join(f"+{c}" for c in sorted(commands))
    return f"ACL SETUSER {role} on >CHANGE-ME resetkeys {patterns} resetchannels -@all {allowed}"


class RedisStore:
    """One Redis database, reached with redis-py."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.label = f"store {name} ({secrets.redact_url(url)})"
        try:
            self.client: Redis = Redis.from_url(url, socket_timeout=30)
        except ValueError as exc:
            raise ConfigError(f"{secrets.scrub(str(exc))}", f"stores.{name}.url") from exc
        self._bound: dict[str, RedisDataset] = {}

    def bind(self, dataset: str, config: DatasetConfig) -> RedisDataset:
        """The dataset's handle; a Redis store serves datasets given by ``pattern``."""
        if config.kind != "keys":
            raise ConfigError(
                f"{self.label} holds keys: give pattern, not table or prefixes",
                f"datasets.{dataset}",
            )
        if dataset not in self._bound:
            self._bound[dataset] = RedisDataset(dataset, config, self.client, self.label)
        return self._bound[dataset]

    def check(self, dataset: str, config: DatasetConfig) -> list[Finding]:
        """The server answers, and the pattern can be scanned (one page)."""
        self.bind(dataset, config)
        try:
            self.client.ping()
            self.client.scan(0, match=config.pattern, count=SCAN_COUNT)
        except RedisError as exc:
            raise StoreError(f"{self.label}: {exc}") from exc
        return [Finding("ok", dataset, f"{self.label}: {config.pattern} can be scanned")]

    def grants(self, uses: Sequence[DatasetUse], role: str) -> list[str]:
        """The Redis ACL rule for ``role`` (replace the password placeholder)."""
        return [acl_rule(uses, role)]

    def write_document(self, path: str, document: Mapping[str, Any]) -> None:
        """Redis does not keep run records: point ``state.records`` at a blob store."""
        raise ConfigError(f"{self.label} cannot keep run records; use a blob store")

    def close(self) -> None:
        """End the datasets' listings (and their reader threads), then the connections."""
        for dataset in self._bound.values():
            dataset.close_listing()
        self.client.close()
