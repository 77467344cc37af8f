"""Time lethe against the usual one-liners on Redis keys and local files.

    python benchmarks/redis_and_files.py REDIS_URL WORKDIR [KEYS] [FILES]

Redis: KEYS hashes ``job:N`` (half expired) — lethe's purge vs the common loop
``for k in scan_iter("job:*"): if old(hget(k, "createdAt")): delete(k)``.
Files: FILES files under uploads/ (half expired) — lethe's purge vs ``find -mmin +N -delete``.
Both start from the same data; the figure is wall time, deletions per second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

from lethe import Lethe

NOW = datetime.now(UTC)
OLD, YOUNG = NOW - timedelta(hours=48), NOW - timedelta(hours=1)


def seed_redis(client: Redis, count: int) -> None:
    client.flushdb()
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.hset(f"job:{n}", mapping={"createdAt": (OLD if n % 2 else YOUNG).isoformat()})
        if n % 5000 == 0:
            pipe.execute()
    pipe.execute()


def naive_redis(client: Redis) -> int:
    cutoff = NOW - timedelta(hours=24)
    deleted = 0
    for key in client.scan_iter(match="job:*"):
        created = client.hget(key, "createdAt")
        if created and datetime.fromisoformat(created.decode()) <= cutoff:
            client.delete(key)
            deleted += 1
    return deleted


def seed_files(root: Path, count: int) -> None:
    subprocess.run(["rm", "-rf", str(root)], check=True)
    for n in range(count):
        path = root / "uploads" / f"d{n % 100}" / f"f{n}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        stamp = (OLD if n % 2 else YOUNG).timestamp()
        os.utime(path, (stamp, stamp))


def lethe_run(toml: str, workdir: Path) -> int:
    with Lethe.from_toml(toml, base_dir=workdir, env={}) as lethe:
        return lethe.run(dry_run=False).deleted


def timed(label: str, count: int, fn) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    deleted = fn()
    seconds = time.perf_counter() - started
    print(f"{label:32} {deleted:>8} deleted in {seconds:6.2f} s = {deleted / seconds:9.0f}/s")


def main(redis_url: str, workdir: str, keys: int = 100_000, files: int = 20_000) -> None:
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    client = Redis.from_url(redis_url)
    common = (
        '[limits.breaker]\nenabled = false\n[state]\nurl = "sqlite:///state.db"\nruns_dir = ""\n'
    )
    redis_toml = (
        common
        + f"""
[stores.r]
url = "{redis_url}"
[datasets.jobs]
pattern = "job:*"
age_column = "createdAt"
retain = "24h"
[policies.p]
dataset = "jobs"
[[policies.p.actions]]
type = "purge"
"""
    )
    seed_redis(client, keys)
    timed("redis: scan_iter+hget+delete", keys, lambda: naive_redis(client))
    seed_redis(client, keys)
    timed("redis: lethe run", keys, lambda: lethe_run(redis_toml, work))
    root = work / "storage"
    files_toml = (
        common
        + f"""
[stores.f]
url = "file://{root}"
[datasets.blobs]
prefixes = ["uploads/"]
retain = "24h"
[policies.p]
dataset = "blobs"
[[policies.p.actions]]
type = "purge"
"""
    )
    seed_files(root, files)
    find = ["find", str(root / "uploads"), "-type", "f", "-mmin", "+1440", "-delete", "-print"]
    timed(
        "files: find -mmin -delete",
        files,
        lambda: len(subprocess.run(find, capture_output=True, check=True).stdout.splitlines()),
    )
    seed_files(root, files)
    timed("files: lethe run", files, lambda: lethe_run(files_toml, work))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
