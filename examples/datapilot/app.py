"""DataPilot's data: uploaded files and results on disk, job records in Redis.

``python examples/datapilot/app.py STORAGE_DIR REDIS_URL`` creates a small sample around now:
expired and fresh uploads and results, and ``job:*`` hashes whose ``createdAt`` is ISO 8601,
epoch seconds, missing or malformed.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

#: file → age in hours at seeding time
FILES = {
    "uploads/u1/report.csv": 30,
    "uploads/u1/notes.txt": 2,
    "uploads/u2/data.parquet": 72,
    "results/j1/summary.json": 25,
    "results/j2/summary.json": 1,
    "other/keep.txt": 500,  # not under a cleaned prefix
}
#: job key → createdAt as stored (None: no field)
JOBS = {
    "job:1": lambda now: (now - timedelta(hours=30)).isoformat(),
    "job:2": lambda now: str(int((now - timedelta(hours=48)).timestamp())),
    "job:3": lambda now: (now - timedelta(hours=3)).isoformat(),
    "job:4": lambda now: None,
    "job:5": lambda now: "yesterday-ish",
}


def seed(storage: Path, redis_url: str, now: datetime) -> None:
    """Create the sample files under ``storage`` and the job keys in Redis."""
    for name, hours in FILES.items():
        path = storage / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        stamp = (now - timedelta(hours=hours)).timestamp()
        os.utime(path, (stamp, stamp))
    with Redis.from_url(redis_url, decode_responses=True) as client:
        client.set("session:abc", "not a job")
        for key, created in JOBS.items():
            value = created(now)
            fields = {"status": "done"} if value is None else {"createdAt": value, "status": "done"}
            client.hset(key, mapping=fields)


if __name__ == "__main__":
    seed(Path(sys.argv[1]), sys.argv[2], datetime.now(UTC))
