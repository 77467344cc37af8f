"""Redis as a lethe store (redis-py): SCAN, pipelined reads, pipelined UNLINK."""

from lethe.stores.redis.dataset import RedisDataset
from lethe.stores.redis.store import RedisStore

__all__ = ["RedisDataset", "RedisStore"]
