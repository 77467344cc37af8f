"""One dataset of items with an age, on every kind of store, for the contract tests.

Each backend seeds items ``{key: created instant | None (no age) | "bad" (malformed age)}``
and writes a policy file whose dataset ``items`` is due 24 hours after creation:

* ``sqlite``: a table ``items(id text primary key, created_at)``;
* ``file`` / ``s3``: objects under ``uploads/`` and ``results/``; a local file's age is its
  modification time, an S3 object's the user metadata ``created-at`` (S3 sets
  ``last_modified`` itself, so a test cannot date it back);
* ``redis``: hashes ``job:KEY`` with a ``createdAt`` field.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from redis import Redis
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
)

from tests.support.apps import OPEN_ENGINES
from tests.support.servers import S3_ENV

__all__ = ["BACKENDS", "Backend", "make_backend"]

BACKENDS = ["sqlite", "file", "s3", "redis"]
Age = datetime | str | None
_buckets = itertools.count()

POLICY = """
[limits.breaker]
enabled = false

[stores.main]
url = "{url}"

[datasets.items]
{location}
age_column = "{age}"
retain = "24h"

[policies.expire]
dataset = "items"
[[policies.expire.actions]]
type = "purge"
"""


class Backend:
    """A store with the ``items`` dataset; subclasses seed and read it."""

    name: str
    url: str
    location: str
    age: str

    def key(self, n: int) -> str:
        """The key of item ``n`` in this store."""
        return f"k{n:03d}"

    def policy(self, extra: str = "") -> str:
        """The policy file text (``extra`` appended)."""
        body = POLICY.format(url=self.url, location=self.location, age=self.age)
        return body + "\n" + extra

    def seed(self, items: Mapping[str, Age]) -> None:
        raise NotImplementedError

    def keys(self) -> set[str]:
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"
    location = 'table = "items"\nkey = "id"'
    age = "created_at"

    def __init__(self, tmp: Path) -> None:
        self.url = f"sqlite:///{tmp / 'app.db'}"
        self.engine = create_engine(self.url)
        OPEN_ENGINES.append(self.engine)
        self.table = Table(
            "items",
            MetaData(),
            Column("id", String(64), primary_key=True),
            Column("created_at", DateTime(timezone=True)),
        )
        self.table.metadata.create_all(self.engine)

    def seed(self, items: Mapping[str, Age]) -> None:
        with self.engine.begin() as conn:
            for key, age in items.items():
                if isinstance(age, str):
                    conn.execute(text("INSERT INTO items VALUES (:k, :a)"), {"k": key, "a": age})
                else:
                    conn.execute(insert(self.table).values(id=key, created_at=age))

    def keys(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(self.table.c.id)).scalars())


class FileBackend(Backend):
    def key(self, n: int) -> str:
        return f"{'results' if n % 2 else 'uploads'}/f{n:03d}.csv"

    name = "file"
    location = 'prefixes = "uploads/,results/"'
    age = "last_modified"

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "storage"
        self.root.mkdir()
        self.url = f"file://{self.root}"

    def seed(self, items: Mapping[str, Age]) -> None:
        for key, age in items.items():
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"data")
            if isinstance(age, datetime):
                os.utime(path, (age.timestamp(), age.timestamp()))

    def keys(self) -> set[str]:
        return {
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and not str(p.relative_to(self.root)).startswith("maintenance/")
        }


class S3Backend(Backend):
    def key(self, n: int) -> str:
        return f"{'results' if n % 2 else 'uploads'}/f{n:03d}.csv"

    name = "s3"
    location = 'prefixes = "uploads/,results/"'
    age = "metadata.created-at"

    def __init__(self, endpoint: str) -> None:
        self.bucket = f"lethe-test-{next(_buckets)}"
        self.client: Any = boto3.client("s3", endpoint_url=endpoint, **_boto_env())
        self.client.create_bucket(Bucket=self.bucket)
        self.url = f"s3://{self.bucket}?endpoint={endpoint}&allow_http=true"

    def seed(self, items: Mapping[str, Age]) -> None:
        for key, age in items.items():
            metadata = {} if age is None else {"created-at": _text(age)}
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"data", Metadata=metadata)

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        found = {o["Key"] for page in pages for o in page.get("Contents", [])}
        return {k for k in found if not k.startswith("maintenance/")}

    def deny_delete(self, keys: list[str]) -> None:
        """A bucket policy that makes DeleteObjects report AccessDenied for ``keys``."""
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": [f"arn:aws:s3:::{self.bucket}/{k}" for k in keys],
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        self.client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))

    def allow_delete(self) -> None:
        self.client.delete_bucket_policy(Bucket=self.bucket)


class RedisBackend(Backend):
    def key(self, n: int) -> str:
        return f"job:{n:03d}"

    name = "redis"
    location = 'pattern = "job:*"'
    age = "createdAt"

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = Redis.from_url(url, decode_responses=True)
        self.client.flushdb()

    def seed(self, items: Mapping[str, Age]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, age in items.items():
            fields = {"status": "done"} if age is None else {"createdAt": _text(age)}
            pipe.hset(key, mapping=fields)
        pipe.execute()

    def keys(self) -> set[str]:
        return set(self.client.scan_iter(match="*", count=1000))


def _text(age: Age) -> str:
    return age.isoformat() if isinstance(age, datetime) else str(age)


def _boto_env() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def make_backend(name: str, tmp: Path, s3_endpoint: str | None, redis_url: str | None) -> Backend:
    """A fresh backend of kind ``name``."""
    if name == "sqlite":
        return SQLiteBackend(tmp)
    if name == "file":
        return FileBackend(tmp)
    if name == "s3":
        assert s3_endpoint is not None
        return S3Backend(s3_endpoint)
    assert redis_url is not None
    return RedisBackend(redis_url)
