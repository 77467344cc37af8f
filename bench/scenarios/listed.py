"""Object and key scenarios: local files against ``find -delete``, S3 (moto server, behind a
counting proxy) against a per-object delete loop, Redis against hand-written scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from redis import Redis
from tests.support.servers import S3_ENV, moto_server, redis_server

from bench.harness import Measurement, interleave, measured, run_child
from bench.s3proxy import counting_proxy
from bench.scenarios.sql import Context

COMMON = """
[state]
url = "sqlite:///{state}/state.db"
runs_dir = ""
[limits]
min_retain = "1s"  # the S3 scenario retains for one second (see there)
[limits.breaker]
enabled = false
"""
PURGE = """
[policies.purge]
dataset = "items"
[[policies.purge.actions]]
type = "purge"
"""


def _lethe(ctx: Context, store: str, dataset: str, as_of: datetime) -> tuple[float, float, dict]:
    state = Path(tempfile_dir(ctx))
    policy = state / "lethe.toml"
    policy.write_text(COMMON.format(state=state) + store + dataset + PURGE)
    _, rss, out = run_child(
        measured("bench.contenders.lethe_run", str(policy), "run", as_of.isoformat())
    )
    shutil.rmtree(state, ignore_errors=True)
    return rss, 0.0, json.loads(out.strip().splitlines()[-1])


def tempfile_dir(ctx: Context) -> str:
    return tempfile.mkdtemp(dir=ctx.scratch)


def _tree_base(ctx: Context, count: int) -> tuple[Path, str]:
    """Where the file tree goes: tmpfs when it has room, so both contenders are timed on what
    they do per file rather than on the disk's metadata writes (seeding 1M files on this VM's
    disk took ~10 min per repetition); the scratch directory otherwise."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        free = shutil.disk_usage(shm).free
        if free > count * 8192 * 2:  # a page per file and per directory entry, twice over
            return Path(tempfile.mkdtemp(dir=shm, prefix="lethe-bench-")), "tmpfs"
    return Path(tempfile_dir(ctx)), "disk"


def files(ctx: Context) -> list[Measurement]:
    """1M small files (× scale), 10 % older than the TTL: lethe against find -delete."""
    scenario = "files"
    count = ctx.size(1_000_000, 2000)
    base, medium = _tree_base(ctx, count)
    root = base / "tree"
    now = time.time()
    print(
        f"\n== {scenario}: {count:,} files, {count // 10:,} older than 24 h, on {medium} ({base})",
        flush=True,
    )

    def seed() -> None:
        shutil.rmtree(root, ignore_errors=True)
        dirs = [root / "uploads" / f"d{d:03d}" for d in range(1000)]
        for d in dirs:
            d.mkdir(parents=True)
        old = (now - 48 * 3600, now - 48 * 3600)
        for n in range(count):
            # os.open rather than Path.write_bytes: seeding 1M files is most of the scenario
            path = f"{dirs[n % 1000]}/f{n:07d}.bin"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, b"x")
            os.close(fd)
            if n % 10 == 0:
                os.utime(path, old)

    def once(name: str, rep: int) -> Measurement:
        seed()
        before = sum(1 for _ in root.rglob("*.bin"))
        if name == "lethe":
            rss, _, work = _lethe(
                ctx,
                f'[stores.s]\nurl = "file://{root}"\n',
                '[datasets.items]\nprefixes = ["uploads/"]\nretain = "24h"\n',
                datetime.fromtimestamp(now, UTC),
            )
            seconds = work["seconds"]
        else:
            started = time.perf_counter()
            subprocess.run(
                ["find", str(root / "uploads"), "-type", "f", "-mmin", "+1440", "-delete"],
                check=True,
            )
            seconds, rss = time.perf_counter() - started, float("nan")
        removed = before - sum(1 for _ in root.rglob("*.bin"))
        if removed != count // 10:
            ctx.failures.append(f"files: {name} removed {removed}, expected {count // 10}")
        return Measurement(scenario, name, rep, seconds, removed, rss, extra={"on": medium})

    try:
        return interleave(["lethe", "find -delete"], ctx.reps, once)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _put_all(client: Any, bucket: str, keys: list[str]) -> None:
    """Seed objects over a few connections: one PUT at a time would take most of the run."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))


def s3(ctx: Context) -> list[Measurement]:
    """100k objects (× scale), 10 % older than the cutoff: requests per 1,000 keys."""
    scenario = "s3"
    count = ctx.size(100_000, 1000)
    os.environ.update(S3_ENV)
    results: list[Measurement] = []
    with moto_server() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"])
        print(f"\n== {scenario}: {count:,} objects, {count // 10:,} due", flush=True)

        def once(name: str, rep: int) -> Measurement:
            bucket = f"bench-{rep}-{name.split()[0]}"
            client.create_bucket(Bucket=bucket)
            _put_all(client, bucket, [f"uploads/old{n:07d}" for n in range(count // 10)])
            # S3 stamps last-modified itself, to the second: leave whole seconds on both sides
            # of the cutoff so that it falls cleanly between the two groups.
            time.sleep(1.1)
            cutoff = datetime.now(UTC).replace(microsecond=0)
            time.sleep(1.1)
            _put_all(client, bucket, [f"uploads/new{n:07d}" for n in range(count - count // 10)])
            with counting_proxy(endpoint) as (proxy, requests):
                if name == "lethe":
                    store = f'[stores.s]\nurl = "s3://{bucket}?endpoint={proxy}&allow_http=true"\n'
                    # Due: modified before the cutoff (as-of one second after it, which has
                    # passed: a real run never acts at a future instant).
                    dataset = '[datasets.items]\nprefixes = ["uploads/"]\nretain = "1s"\n'
                    rss, _, work = _lethe(ctx, store, dataset, cutoff + timedelta(seconds=1))
                else:
                    _, rss, out = run_child(
                        measured("bench.contenders.s3_loop", proxy, bucket, cutoff.isoformat())
                    )
                    work = json.loads(out.strip().splitlines()[-1])
                sent = dict(requests)
            left = sum(
                p.get("KeyCount", 0)
                for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            )
            removed = count - left
            if removed != count // 10:
                ctx.failures.append(f"s3: {name} removed {removed}, expected {count // 10}")
            m = Measurement(
                scenario,
                name,
                rep,
                work["seconds"],
                removed,
                rss,
                extra={
                    "requests": sent,
                    "listed": count,
                    "requests_per_1000_deleted": round(
                        1000 * sum(sent.values()) / max(removed, 1), 1
                    ),
                },
            )
            print(f"  {name}: {sent}", flush=True)
            return m

        results = interleave(["lethe", "per-object loop"], ctx.reps, once)
    return results


def redis(ctx: Context) -> list[Measurement]:
    """1M job:* hashes (× scale) plus unrelated keys, 10 % due: lethe against two scripts."""
    scenario = "redis"
    count = ctx.size(1_000_000, 2000)
    as_of = datetime.now(UTC)
    old, young = (as_of - timedelta(hours=48)).isoformat(), (as_of - timedelta(hours=1)).isoformat()
    with redis_server() as url:
        client = Redis.from_url(url)
        print(
            f"\n== {scenario}: {count:,} job hashes (+{count // 5:,} other keys), "
            f"{count // 10:,} due",
            flush=True,
        )

        def seed() -> None:
            client.flushdb()
            pipe = client.pipeline(transaction=False)
            for n in range(count):
                pipe.hset(
                    f"job:{n}",
                    mapping={"createdAt": old if n % 10 == 0 else young, "status": "done"},
                )
                if n % 5 == 0:
                    pipe.set(f"session:{n}", "x")
                if n % 10_000 == 0:
                    pipe.execute()
            pipe.execute()

        def once(name: str, rep: int) -> Measurement:
            seed()
            before = client.dbsize()
            if name == "lethe":
                rss, _, work = _lethe(
                    ctx,
                    f'[stores.r]\nurl = "{url}"\n',
                    '[datasets.items]\npattern = "job:*"\n'
                    'age_column = "createdAt"\nretain = "24h"\n',
                    as_of,
                )
            else:
                mode = "pipelined" if name.startswith("pipelined") else "scan_iter"
                _, rss, out = run_child(
                    measured("bench.contenders.redis_loops", url, mode, as_of.isoformat(), "24")
                )
                work = json.loads(out.strip().splitlines()[-1])
            removed = before - client.dbsize()
            if removed != count // 10:
                ctx.failures.append(f"redis: {name} removed {removed}, expected {count // 10}")
            return Measurement(scenario, name, rep, work["seconds"], removed, rss)

        results = interleave(
            ["lethe", "pipelined SCAN+HGET+UNLINK", "scan_iter+HGET+DEL"], ctx.reps, once
        )
    return results
