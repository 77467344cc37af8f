"""The circuit breaker counts what a run would remove exactly: PostgreSQL's planner estimates
can be wrong by any factor before ANALYZE (here it expects a handful of due rows where 20,000
are), and a breaker trusting them would let the deletion through."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, make_url, text

from lethe import Lethe, SafetyLimitError
from lethe.engine.planning import estimate, removed_rows
from lethe.engine.run import breaker_reasons
from lethe.stores.sql import slices
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


PAIRS = """
[stores.app]
url = "{url}"

[datasets.people]
table = "people"
key = "id"
due_column = "due_at"
cascade = [{{ table = "pairs", columns = ["a_id", "b_id"] }}]

[policies.expire]
dataset = "people"
[[policies.expire.actions]]
type = "purge"

[limits.breaker]
max_rows = {max_rows}
max_percent = {max_percent}
"""


def _pairs(url: str, people: int) -> None:
    """``people`` due people and as many pairs, each referencing two of them (a table two
    edges reach: its count is an ``OR`` of two memberships)."""
    with engine_for(url).begin() as conn:
        conn.execute(text("CREATE TABLE people (id bigint PRIMARY KEY, due_at timestamptz)"))
        conn.execute(
            text(
                "CREATE TABLE pairs (id bigint PRIMARY KEY, "
                "a_id bigint NOT NULL REFERENCES people ON DELETE CASCADE, "
                "b_id bigint NOT NULL REFERENCES people ON DELETE CASCADE)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO people SELECT i, CAST(:due AS timestamptz) "
                "FROM generate_series(1, :n) i"
            ),
            {"due": NOW - timedelta(days=1), "n": people},
        )
        conn.execute(
            text("INSERT INTO pairs SELECT i, i, 1 + (i * 7) % :n FROM generate_series(1, :n) i"),
            {"n": people},
        )
        conn.execute(text("ANALYZE people"))
        conn.execute(text("ANALYZE pairs"))


def _statements(engine: Engine) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    return seen


def _estimated(url: str, tmp_path: Path) -> tuple[dict[str, int], list[tuple[str, Any]]]:
    """The breaker's counts of the pairs policy with thresholds no count reaches (everything
    is counted), and the statements that made them."""
    policy = tmp_path / "lethe.toml"
    policy.write_text(PAIRS.format(url=url, max_rows=10**9, max_percent=100))
    with Lethe.from_file(policy, env={}) as lethe:
        (target,) = lethe.runtime.targets()
        seen = _statements(target.handle.engine)
        return removed_rows(estimate(lethe.runtime, target, NOW)), seen


def _subplans_rescan(plan: dict[str, Any], under_subplan: bool = False) -> bool:
    """Whether some node under a SubPlan materializes a set to rescan it for every row."""
    inside = under_subplan or plan.get("Parent Relationship") == "SubPlan"
    if inside and plan["Node Type"] == "Materialize":
        return True
    return any(_subplans_rescan(p, inside) for p in plan.get("Plans", []))


def test_a_table_two_edges_reach_is_counted_by_key_lookups_not_a_rescanned_set(
    pg_url: str, tmp_path: Path
) -> None:
    """``fk IN (roots) OR fk2 IN (roots)`` cannot become a join in PostgreSQL: once the roots
    outgrow work_mem it rescans them for each row (at a million due roots, a count that did not
    end in five minutes). Here work_mem is made small so that twenty thousand roots outgrow it."""
    _pairs(pg_url, 20000)
    rows, seen = _estimated(pg_url, tmp_path)
    assert rows == {"people": 20000, "pairs": 20000}
    (statement, parameters), *_ = [s for s in seen if "FROM pairs" in s[0]]
    with engine_for(pg_url).begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '64kB'"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            (plan,) = cursor.fetchone()
    assert not _subplans_rescan(plan[0]["Plan"]), plan


def test_counting_stops_once_the_roots_alone_trip_the_breaker(pg_url: str, tmp_path: Path) -> None:
    """The verdict only grows with the counts: when the due people alone are over the
    thresholds, the pairs they take with them are not counted (at a million rows, seconds of
    reading in one transaction). The refused run's exact plan, for its approval, is made
    afterwards batch by batch."""
    _pairs(pg_url, 3000)
    policy = tmp_path / "lethe.toml"
    policy.write_text(PAIRS.format(url=pg_url, max_rows=1000, max_percent=10))
    with Lethe.from_file(policy, env={}) as lethe:
        targets = lethe.runtime.targets()
        seen = _statements(targets[0].handle.engine)
        (reason,) = breaker_reasons(lethe.runtime, targets, NOW)
        assert reason.startswith(
            "policy expire: would remove 3000 of 3000 rows (100.0 %) from people"
        )
        assert [s for s, _ in seen if "count(" in s and "FROM people" in s]  # the roots counted
        assert not [s for s, _ in seen if "FROM pairs" in s]
        with pytest.raises(SafetyLimitError, match="would remove 3000 of 3000 rows"):
            lethe.run(as_of=NOW)
    with engine_for(pg_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pairs")).scalar_one() == 3000


def test_a_table_without_children_is_counted_on_sqlite(tmp_path: Path) -> None:
    """On SQLite the counts are one statement over the roots; a table nothing references
    needs no count besides the roots' own, and an empty statement was a syntax error that
    failed every such policy."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with engine_for(url).begin() as conn:
        conn.execute(text("CREATE TABLE events (id integer PRIMARY KEY, created_at timestamp)"))
        conn.execute(
            text("INSERT INTO events VALUES (:id, :at)"),
            [{"id": i, "at": NOW - timedelta(days=i, hours=12)} for i in range(1, 101)],
        )
    policy = tmp_path / "lethe.toml"
    policy.write_text(POLICY.format(url=url).replace("max_percent = 10", "max_percent = 100"))
    with Lethe.from_file(policy, env={}) as lethe:
        (target,) = lethe.runtime.targets()
        assert removed_rows(estimate(lethe.runtime, target, NOW)) == {"events": 71}
        assert lethe.run(as_of=NOW).ok
    with engine_for(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 29


def _small_work_mem(url: str) -> str:
    """``url`` whose sessions have 64 kB of work_mem: 20,000 roots no longer fit in a hash."""
    return str(make_url(url).update_query_dict({"options": "-c work_mem=64kB"}))


@pytest.mark.parametrize(("work_mem", "pair_counts"), [("64kB", 7), ("default", 1)])
def test_a_count_looked_up_row_by_row_is_made_in_slices_of_the_tables_key(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, work_mem: str, pair_counts: int
) -> None:
    """Looked up row by row, a count of the pairs costs the same in slices, each its own short
    transaction; with the roots hashed (they fit in work_mem) each slice would hash them
    again, so it is one count. Slices of 3,000 rows here: 20,000 pairs in seven."""
    monkeypatch.setattr(slices, "SLICE_ROWS", 3000)
    _pairs(pg_url, 20000)
    url = _small_work_mem(pg_url) if work_mem == "64kB" else pg_url
    rows, seen = _estimated(url, tmp_path)
    assert rows == {"people": 20000, "pairs": 20000}
    counted = [s for s, _ in seen if s.startswith("SELECT count(*)") and "FROM pairs" in s]
    assert len(counted) == pair_counts, counted
    if pair_counts > 1:
        assert all("pairs.id >= " in s and "pairs.id < " in s for s in counted)


def test_the_cascade_counts_hold_one_snapshot_at_a_time(pg_url: str, tmp_path: Path) -> None:
    """Each count is its own read-only transaction, made one after another: two at once share
    the server's cores, so each lasts longer (at 1M profiles two side by side held their
    snapshots 0.64-1.03 s, against 0.44 s one at a time). Seen by locking the table counted
    first for a moment: no other count may start meanwhile."""
    _pairs(pg_url, 2000)
    with engine_for(pg_url).begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE notes (id bigint PRIMARY KEY, person_id bigint NOT NULL "
                "REFERENCES people ON DELETE CASCADE)"
            )
        )
        conn.execute(text("INSERT INTO notes SELECT i, i FROM generate_series(1, 500) i"))
    everything = {"people": 2000, "pairs": 2000, "notes": 500}
    rows, seen = _estimated(pg_url, tmp_path)
    assert rows == everything
    first = next(
        table
        for statement, _ in seen
        if statement.startswith("SELECT count(*)")
        for table in ("pairs", "notes")
        if f"FROM {table} " in statement
    )
    policy = tmp_path / "lethe.toml"
    with Lethe.from_file(policy, env={}) as lethe:
        (target,) = lethe.runtime.targets()
        engine = target.handle.engine
        open_now: set[int] = set()
        most = [0]

        @event.listens_for(engine, "begin")
        def _begun(conn: Any) -> None:
            open_now.add(id(conn))
            most[0] = max(most[0], len(open_now))

        @event.listens_for(engine, "rollback")
        def _ended(conn: Any) -> None:
            open_now.discard(id(conn))

        event.listen(engine, "commit", _ended)
        with engine_for(pg_url).connect() as locker:
            locker.execute(text(f"LOCK TABLE {first} IN ACCESS EXCLUSIVE MODE"))
            releaser = threading.Timer(1.0, locker.rollback)
            releaser.start()
            started = time.monotonic()
            counted = removed_rows(estimate(lethe.runtime, target, NOW))
            releaser.join()
    assert counted == everything
    assert time.monotonic() - started >= 1.0  # the locked table's count did wait
    assert most[0] == 1, f"{most[0]} read-only transactions were open at once"


def test_a_table_two_edges_reach_is_counted_by_one_join_per_edge(
    pg_url: str, tmp_path: Path
) -> None:
    """With the roots hashed (they fit in work_mem), a table two edges reach is counted as one
    ``LEFT JOIN`` of the roots per edge, which PostgreSQL can run with parallel workers (the
    ``OR`` of two lookups runs in one process: at 1M rows 0.47 s against 0.27-0.30 s). Each
    row counts once: one referencing the same due person twice, one referencing a due and a
    kept person, none referencing only kept ones."""
    _pairs(pg_url, 2000)
    with engine_for(pg_url).begin() as conn:
        conn.execute(
            text("UPDATE people SET due_at = CAST(:later AS timestamptz) WHERE id % 3 = 0"),
            {"later": NOW + timedelta(days=1)},
        )
        conn.execute(text("INSERT INTO pairs VALUES (2001, 5, 5), (2002, 3, 6), (2003, 7, 3)"))
        due_people, due_pairs = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM people WHERE id % 3 <> 0), "
                "(SELECT count(*) FROM pairs WHERE a_id % 3 <> 0 OR b_id % 3 <> 0)"
            )
        ).one()
    rows, seen = _estimated(pg_url, tmp_path)
    assert rows == {"people": due_people, "pairs": due_pairs}
    (counted,) = [s for s, _ in seen if s.startswith("SELECT count(*)") and "FROM pairs" in s]
    assert counted.count("LEFT OUTER JOIN") == 2 and "EXISTS" not in counted, counted
