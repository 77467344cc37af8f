"""The physical limit: one set-based DELETE, children removed by the database's ON DELETE
CASCADE, no per-item audit, one long transaction."""

import json
import sqlite3
import sys
import time

from bench.therapy import AS_OF

url = sys.argv[1]
if url.startswith("postgresql"):
    import psycopg  # before the clock, as every contender's driver (bench/contenders/drivers.py)
started, cpu = time.perf_counter(), time.process_time()
if url.startswith("postgresql"):
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(
            "DELETE FROM profiles WHERE deletion_scheduled_at <= %s AND deleted_at IS NULL",
            (AS_OF,),
        )
else:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("PRAGMA foreign_keys=ON")
    with conn:
        conn.execute(
            "DELETE FROM profiles WHERE deletion_scheduled_at <= ? AND deleted_at IS NULL",
            (AS_OF.strftime("%Y-%m-%d %H:%M:%S"),),
        )
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
