"""The circuit breaker counts what a run would remove exactly: PostgreSQL's planner estimates
can be wrong by any factor before ANALYZE (here it expects a handful of due rows where 20,000
are), and a breaker trusting them would let the deletion through."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from lethe import Lethe, SafetyLimitError
from tests.support.apps import NOW, engine_for

POLICY = """
[stores.app]
url = "{url}"

[datasets.events]
table = "events"
key = "id"
age_column = "created_at"
retain = "30d"

[policies.expire]
dataset = "events"
[[policies.expire.actions]]
type = "purge"

[limits.breaker]
max_rows = 1000
max_percent = 10
"""


def test_stale_statistics_cannot_let_a_big_deletion_through(pg_url: str, tmp_path: Path) -> None:
    engine = engine_for(pg_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamptz NOT NULL) "
                "WITH (autovacuum_enabled = false)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events SELECT i, CAST(:now AS timestamptz) - i * interval '1 minute' "
                "FROM generate_series(1, 20000) AS i"
            ),
            {"now": NOW},
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE events"))
    # A backlog lands after the statistics were gathered: the planner has not seen it.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events SELECT i, CAST(:now AS timestamptz) - interval '400 days' "
                "- i * interval '1 second' FROM generate_series(100001, 120000) AS i"
            ),
            {"now": NOW},
        )
        plan = conn.execute(
            text("EXPLAIN (FORMAT JSON) SELECT 1 FROM events WHERE created_at < :cutoff"),
            {"cutoff": "2024-09-01"},
        ).scalar_one()
    assert plan[0]["Plan"]["Plan Rows"] < 2000  # the planner expects a tenth of them, or less
    policy = tmp_path / "lethe.toml"
    policy.write_text(POLICY.format(url=pg_url))
    with (
        Lethe.from_file(policy, env={}) as lethe,
        pytest.raises(SafetyLimitError, match="would remove 20000 of"),
    ):
        lethe.run(as_of=NOW, dry_run=False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 40000
