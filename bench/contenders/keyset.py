"""The practical limit with an audit: hand-written keyset batches, children deleted explicitly
with RETURNING, one audit row per parent in the same transaction (psycopg 3 / sqlite3)."""

import json
import sqlite3
import sys
import time

from bench.therapy import AS_OF, CHILDREN

url, batch = sys.argv[1], int(sys.argv[2])
if url.startswith("postgresql"):
    import psycopg  # before the clock, as every contender's driver (bench/contenders/drivers.py)


def where(columns: list[str], any_: str) -> str:
    return " OR ".join(f"{c} {any_}" for c in columns)


def postgres() -> None:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        last = 0
        while True:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SELECT id FROM profiles WHERE deletion_scheduled_at <= %s AND deleted_at "
                    "IS NULL AND id > %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (AS_OF, last, batch),
                )
                ids = [row[0] for row in cur.fetchall()]
                if not ids:
                    return
                for table, columns in CHILDREN:
                    cur.execute(
                        f"DELETE FROM {table} WHERE {where(columns, '= ANY(%(ids)s)')} "
                        f"RETURNING {columns[0]}",
                        {"ids": ids},
                    )
                    cur.fetchall()
                cur.execute("DELETE FROM profiles WHERE id = ANY(%s) RETURNING id", (ids,))
                cur.fetchall()
                cur.execute(
                    "INSERT INTO audit_log (user_id, action, at) "
                    "SELECT unnest(%s::bigint[]), 'hard_deleted', now()",
                    (ids,),
                )
                last = ids[-1]


def sqlite() -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    in_batch = "IN (SELECT value FROM json_each(:ids))"
    last = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM profiles WHERE deletion_scheduled_at <= :as_of "
                "AND deleted_at IS NULL AND id > :last ORDER BY id LIMIT :n",
                {"as_of": AS_OF.strftime("%Y-%m-%d %H:%M:%S"), "last": last, "n": batch},
            )
        ]
        if not ids:
            conn.execute("COMMIT")
            return
        param = {"ids": json.dumps(ids)}
        for table, columns in CHILDREN:
            conn.execute(
                f"DELETE FROM {table} WHERE {where(columns, in_batch)} RETURNING {columns[0]}",
                param,
            ).fetchall()
        conn.execute(f"DELETE FROM profiles WHERE id {in_batch} RETURNING id", param).fetchall()
        conn.execute(
            "INSERT INTO audit_log (user_id, action, at) SELECT value, 'hard_deleted', "
            "datetime('now') FROM json_each(:ids)",
            param,
        )
        conn.execute("COMMIT")
        last = ids[-1]


started, cpu = time.perf_counter(), time.process_time()
postgres() if url.startswith("postgresql") else sqlite()
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
