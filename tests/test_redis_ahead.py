"""Redis pages judged ahead by a thread, and every key judged again when its batch deletes it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lethe.config.datasets import DatasetConfig
from lethe.model.conditions import Before
from lethe.stores.redis.ahead import Ahead
from lethe.stores.redis.dataset import RedisDataset
from lethe.stores.redis.store import RedisStore

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OLD, YOUNG = (NOW - timedelta(hours=48)).isoformat(), (NOW - timedelta(hours=1)).isoformat()
DUE = Before("createdAt", NOW - timedelta(hours=24), True)


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore("r", redis_url)
    yield store
    store.close()


def _bind(store: RedisStore) -> RedisDataset:
    return store.bind("items", DatasetConfig(pattern="job:*", age_column="createdAt", retain="24h"))


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lethe-redis-reader"]


def test_a_key_changed_after_it_was_judged_is_not_deleted(store: RedisStore) -> None:
    client = store.client
    for n in range(1, 5):
        client.hset(f"job:{n}", mapping={"createdAt": OLD})
    dataset = _bind(store)
    with dataset.open_batch() as batch:
        items = batch.lock(DUE, limit=10, skip_locked=False)
        assert sorted(str(i.key) for i in items) == ["job:1", "job:2", "job:3", "job:4"]
        # between the listing's judgement and the deletion: one key renewed, one replaced
        # by a string, one deleted by someone else
        client.hset("job:2", "createdAt", YOUNG)
        client.delete("job:3")
        client.set("job:3", "a string now")
        client.delete("job:4")
        batch.delete([i.key for i in items])
    assert sorted(batch.failed) == ["job:2", "job:3", "job:4"]
    assert all("no longer selected" in why for why in batch.failed.values())
    assert client.exists("job:1") == 0
    assert client.hget("job:2", "createdAt") == YOUNG.encode()
    assert client.get("job:3") == b"a string now"


def test_the_reader_thread_ends_with_the_listing(store: RedisStore) -> None:
    client = store.client
    pipe = client.pipeline(transaction=False)
    for n in range(40_000):  # more pages than the reader may hold, so it waits for room
        pipe.hset(f"job:{n}", mapping={"createdAt": OLD if n % 10 == 0 else YOUNG})
    pipe.execute()
    dataset = _bind(store)
    first = dataset.select(DUE, limit=10)
    assert len(first) == 10
    assert len(_readers()) == 1  # the listing stays open for the next batch
    store.close()  # what the end of a run does (Runtime.close)
    assert _readers() == []


def test_a_reader_nobody_reads_from_stops_and_the_listing_resumes_where_it_was() -> None:
    steps: list[int] = []

    def step(n: int) -> tuple[list[int], int | None]:
        steps.append(n)
        return [n], (n + 1 if n < 9 else None)

    pages = Ahead(step, 0, ahead=2, idle=0.2, name="test-reader")
    listing = iter(pages)
    assert next(listing) == [0]
    time.sleep(0.6)
    assert not pages.running  # idle: the thread ended, holding at most two pages
    assert len(steps) <= 3
    assert list(listing) == [[n] for n in range(1, 10)]
    assert steps == list(range(10))  # every page read once, in order
    assert not pages.running


def test_a_failed_read_reaches_the_listing() -> None:
    def step(n: int) -> tuple[list[int], int | None]:
        if n == 2:
            raise RuntimeError("server gone")
        return [n], n + 1

    pages = Ahead(step, 0, ahead=4, idle=5.0, name="test-reader")
    got: list[list[int]] = []
    with pytest.raises(RuntimeError, match="server gone"):
        for page in pages:
            got.append(page)
    assert got == [[0], [1]]
    assert not pages.running
