"""Partition drop: a wholly expired partition dropped whole against the row path on it.

One table of 1M events (× scale), partitioned by range on its date into ten partitions, keyed
by ``(id, created_at)``; the first holds only rows past their retention, the other nine none.
Both contenders are lethe on the same copy of the data with the same policy, audited; the
baseline only says ``partitions = "rows"``, which makes it delete that partition's rows batch
by batch.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.harness import Measurement, TransactionSampler, interleave, measured, run_child, wal_lsn
from bench.scenarios.sql import Context, _pg_db, _sql
from bench.therapy import AS_OF

PARTITIONS = 10
POLICY = """
[state]
url = "sqlite:///{state}/state.db"
runs_dir = ""
[stores.app]
url = "{url}"
[datasets.events]
table = "events"
key = ["id", "created_at"]
age_column = "created_at"
retain = "30d"
partitions = "{partitions}"
[policies.expire]
dataset = "events"
[[policies.expire.actions]]
type = "purge"
"""
CONTENDERS = {"lethe": "drop", "lethe row path": "rows"}


def _populate(url: str, per_partition: int) -> None:
    """Partitioned as PostgreSQL users partition an event log: by range on its date, the
    primary key ``(id, created_at)``. Partition 0 holds a month a year old; partitions 1–9
    five days each of the last 29 days (none due at a 30-day retention)."""
    engine = create_engine(url)
    spans = [(AS_OF - timedelta(days=400), AS_OF - timedelta(days=370))] + [
        (AS_OF - timedelta(days=29 - 3 * n), AS_OF - timedelta(days=26 - 3 * n))
        for n in range(PARTITIONS - 1)
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL, "
                "kind text NOT NULL, payload text, PRIMARY KEY (id, created_at)) "
                "PARTITION BY RANGE (created_at)"
            )
        )
        for n, (low, high) in enumerate(spans):
            conn.execute(
                text(
                    f"CREATE TABLE events_p{n:02d} PARTITION OF events "
                    f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO events SELECT i, CAST(:low AS timestamptz) + (i % 2000) * "
                    "interval '1 minute', 'view', md5(i::text) "
                    "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS i"
                ),
                {"low": low, "a": n * per_partition + 1, "b": (n + 1) * per_partition},
            )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE events"))
    engine.dispose()


def _fingerprint(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows, total = conn.execute(text("SELECT count(*), coalesce(sum(id), 0) FROM events")).one()
    engine.dispose()
    return int(rows), int(total)


def _measure(
    ctx: Context, scenario: str, name: str, rep: int, url: str
) -> tuple[Measurement, tuple[int, int]]:
    before = _fingerprint(url)
    state = Path(tempfile.mkdtemp(dir=ctx.scratch))
    policy = state / "lethe.toml"
    policy.write_text(POLICY.format(state=state, url=url, partitions=CONTENDERS[name]))
    lsn = wal_lsn(ctx.pg_admin)
    database = url.rsplit("/", 1)[-1]
    with TransactionSampler(ctx.pg_admin, database) as probe:
        argv = measured("bench.contenders.lethe_run", str(policy), "run", AS_OF.isoformat())
        _, rss, out = run_child(argv)
    wal = wal_lsn(ctx.pg_admin) - lsn
    after = _fingerprint(url)
    shutil.rmtree(state, ignore_errors=True)
    work = json.loads(out.strip().splitlines()[-1])
    m = Measurement(
        scenario, name, rep, work["seconds"], before[0] - after[0], rss, probe.longest, wal
    )
    m.longest_write_tx_s = probe.longest_write
    m.extra["batch_seconds"] = work["batch_seconds"]
    return m, after


def partition_drop(ctx: Context) -> list[Measurement]:
    """lethe dropping the expired partition against lethe deleting it row by row."""
    per_partition = ctx.size(100_000, 1000)
    scenario = "partition drop"
    template = "bench_tpl_partitions"
    _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    _sql(ctx, f"CREATE DATABASE {template}")
    _populate(_pg_db(ctx, template), per_partition)
    print(
        f"\n== {scenario}: {PARTITIONS * per_partition:,} events in {PARTITIONS} partitions, "
        f"{per_partition:,} due (one whole partition)",
        flush=True,
    )
    outcomes: dict[str, tuple[int, int]] = {}

    def once(name: str, rep: int) -> Measurement:
        db = f"bench_part_{rep}_{'rows' if name != 'lethe' else 'drop'}"
        _sql(ctx, f"DROP DATABASE IF EXISTS {db}")
        _sql(ctx, f"CREATE DATABASE {db} TEMPLATE {template}")
        try:
            m, after = _measure(ctx, scenario, name, rep, _pg_db(ctx, db))
            outcomes[name] = after
            return m
        finally:
            _sql(ctx, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    results = interleave(list(CONTENDERS), ctx.reps, once)
    if len(set(outcomes.values())) != 1:
        ctx.failures.append(f"{scenario}: the row path left different rows than the drop")
    if any(m.rows != per_partition for m in results):
        ctx.failures.append(f"{scenario}: a contender did not remove exactly the due partition")
    _sql(ctx, f"DROP DATABASE IF EXISTS {template}")
    removal = {
        name: statistics.median(m.extra["batch_seconds"] for m in results if m.contender == name)
        for name in CONTENDERS
    }
    print(
        f"  removal alone (the batches' own time, without the run around them): drop "
        f"{removal['lethe']:.3f} s, row path {removal['lethe row path']:.2f} s: "
        f"{removal['lethe row path'] / max(removal['lethe'], 1e-9):.0f}x",
        flush=True,
    )
    return results
