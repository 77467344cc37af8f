"""Redis baselines: ``pipelined`` (SCAN COUNT 1000, one pipeline of HGETs per page, one UNLINK
per page — the hand-written fast script) and ``scan_iter`` (the common loop: scan_iter, HGET,
DEL, one round trip each)."""

import json
import sys
import time
from datetime import datetime, timedelta

from redis import Redis

url, mode, as_of_text, ttl_hours = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
cutoff = datetime.fromisoformat(as_of_text) - timedelta(hours=ttl_hours)
client = Redis.from_url(url)


def old(created: bytes | None) -> bool:
    return created is not None and datetime.fromisoformat(created.decode()) <= cutoff


started, cpu = time.perf_counter(), time.process_time()
if mode == "pipelined":
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match="job:*", count=1000)
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "createdAt")
            due = [k for k, created in zip(keys, pipe.execute(), strict=True) if old(created)]
            if due:
                client.unlink(*due)
        if cursor == 0:
            break
else:
    for key in client.scan_iter(match="job:*"):
        if old(client.hget(key, "createdAt")):
            client.delete(key)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
