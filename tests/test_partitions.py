"""Partitions dropped whole on PostgreSQL: when they qualify, how they are audited, what keeps
them on the row path, and how a run killed between the detach and the drop is finished.

The table is partitioned by range on its key (a single-column key stays provably unique), its
ids growing with time: partition p1 holds only old rows, p2 old and new ones, p3 new ones.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, Table, create_engine, text
from sqlalchemy.engine import Engine

from lethe import Lethe
from lethe.engine.hooks import CommittedBatch, add_batch_listener, remove_batch_listener
from lethe.errors import SafetyLimitError
from lethe.model.keys import key_text
from lethe.stores.base import PartitionFacts
from lethe.stores.sql.partition_digest import digest_keys, key_text_sql
from lethe.stores.sql.partitions import PartitionedDataset
from lethe.testing import ManualClock
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
SIZE = 300  # rows per partition
P1 = "public.events_p1"


@pytest.fixture
def app(pg_url: str) -> Iterator[Engine]:
    """Three partitions of SIZE rows: p1 all due, p2 its first half due, p3 none due."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, "
                "kind text NOT NULL DEFAULT 'click') PARTITION BY RANGE (id)"
            )
        )
        for n in range(3):
            low, high = n * SIZE + 1, (n + 1) * SIZE + 1
            conn.execute(
                text(
                    f"CREATE TABLE events_p{n + 1} PARTITION OF events "
                    f"FOR VALUES FROM ({low}) TO ({high})"
                )
            )
        conn.execute(
            text(
                "INSERT INTO events (id, created_at) SELECT i, CASE WHEN i <= :due "
                "THEN CAST(:old AS timestamptz) ELSE CAST(:now AS timestamptz) END "
                "FROM generate_series(1, :n) AS i"
            ),
            {"due": SIZE + SIZE // 2, "old": OLD, "now": NOW, "n": 3 * SIZE},
        )
        conn.execute(text("CREATE TABLE legal_holds (event_id bigint NOT NULL)"))
    yield engine
    engine.dispose()


def policy(url: str, *, limits: str = "", dataset: str = "") -> str:
    return textwrap.dedent(f"""
        [limits]
        batch_size = 100
        batch_seconds = 0
        {limits}
        [stores.app]
        url = "{url}"
        [datasets.events]
        table = "events"
        key = "id"
        age_column = "created_at"
        retain = "30d"
        {dataset}
        [policies.purge]
        dataset = "events"
        [[policies.purge.actions]]
        type = "purge"
        """)


def lethe_for(url: str, tmp_path: Path, **kwargs: Any) -> Lethe:
    return Lethe.from_toml(policy(url, **kwargs), base_dir=tmp_path, clock=ManualClock(NOW))


def ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM events ORDER BY id")).scalars())


def exists(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None


def events(lethe: Lethe, kind: str) -> list[dict[str, Any]]:
    return [e for e in lethe.runtime.ledger.iter_events() if e["event"] == kind]


def digest(keys: range) -> str:
    return hashlib.sha256("\n".join(str(k) for k in keys).encode()).hexdigest()


def test_a_wholly_expired_partition_is_dropped_and_audited_with_its_keys_digest(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    heard: list[CommittedBatch] = []
    add_batch_listener(heard.append)
    try:
        with lethe_for(pg_url, tmp_path) as lethe:
            result = lethe.run()
    finally:
        remove_batch_listener(heard.append)
    assert (heard[0].event, heard[0].keys, heard[0].cascade) == (
        "partition_dropped",
        (),
        {"events": SIZE},
    )
    assert sum(len(b.keys) for b in heard[1:]) == SIZE // 2
    with lethe_for(pg_url, tmp_path) as lethe:
        phase = result.phases[0]
        assert phase.acted == SIZE + SIZE // 2
        assert phase.details["partitions"] == [
            {"partition": P1, "bound": f"FOR VALUES FROM ('1') TO ('{SIZE + 1}')", "rows": SIZE}
        ]
        assert not exists(app, P1)
        assert ids(app) == list(range(SIZE + SIZE // 2 + 1, 3 * SIZE + 1))
        (dropped,) = events(lethe, "partition_dropped")
        assert dropped["item_key"] == P1
        assert dropped["details"]["rows"] == SIZE
        assert dropped["details"]["keys"] == {
            "first": "1",
            "last": str(SIZE),
            "sha256": digest(range(1, SIZE + 1)),
        }
        # p2's due half went row by row, each row with its own event
        rows = sorted(int(e["item_key"]) for e in events(lethe, "hard_deleted"))
        assert rows == list(range(SIZE + 1, SIZE + SIZE // 2 + 1))
        assert lethe.verify_audit().ok
        assert exists(app, "public.events_p2") and exists(app, "public.events_p3")


def test_a_partition_with_a_registry_hold_goes_row_by_row(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with lethe_for(pg_url, tmp_path) as lethe:
        lethe.holds.add("events", "7", "litigation", "legal")
        lethe.run()
        assert exists(app, P1)
        assert ids(app)[0] == 7 and 8 not in ids(app)
        assert not events(lethe, "partition_dropped")


def test_a_prefix_hold_reaching_a_partition_keeps_it(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with lethe_for(pg_url, tmp_path) as lethe:
        lethe.holds.add("events", "29*", "audit", "legal")
        lethe.run()
        assert exists(app, P1)
        assert [i for i in ids(app) if i <= SIZE] == [29, *range(290, 300)]


def test_a_row_held_by_the_applications_hold_table_keeps_its_partition(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with app.begin() as conn:
        conn.execute(text("INSERT INTO legal_holds VALUES (12)"))
    holds = '[datasets.events.holds]\ntable = "legal_holds"\ncolumn = "event_id"'
    with lethe_for(pg_url, tmp_path, dataset=holds) as lethe:
        lethe.run()
        assert exists(app, P1)
        assert ids(app)[0] == 12 and 13 not in ids(app)


def test_a_foreign_key_into_the_table_keeps_every_partition_on_the_row_path(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with app.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE clicks (id serial PRIMARY KEY, "
                "event_id bigint REFERENCES events (id) ON DELETE CASCADE)"
            )
        )
        conn.execute(text("CREATE INDEX ON clicks (event_id)"))
        conn.execute(text("INSERT INTO clicks (event_id) VALUES (3), (400)"))
    with lethe_for(pg_url, tmp_path) as lethe:
        messages = [f.message for f in lethe.check().findings if f.dataset == "events"]
        assert any("row by row: foreign key clicks_event_id_fkey" in m for m in messages)
        result = lethe.run()
        assert exists(app, P1) and result.phases[0].acted == SIZE + SIZE // 2
        assert result.phases[0].cascade == {"clicks": 2}
        assert not events(lethe, "partition_dropped")


def test_a_filter_excluding_one_row_keeps_its_partition(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with app.begin() as conn:
        conn.execute(text("UPDATE events SET kind = 'purchase' WHERE id = 100"))
    where = '[[datasets.events.where]]\ncolumn = "kind"\nequals = "click"'
    with lethe_for(pg_url, tmp_path, dataset=where) as lethe:
        lethe.run()
        assert exists(app, P1)
        assert ids(app)[0] == 100


def test_check_says_which_datasets_qualify(app: Engine, pg_url: str, tmp_path: Path) -> None:
    with lethe_for(pg_url, tmp_path) as lethe:
        messages = [f.message for f in lethe.check().findings if f.dataset == "events"]
    assert any("detached concurrently and dropped whole" in m for m in messages), messages
    with lethe_for(pg_url, tmp_path, dataset='partitions = "rows"') as lethe:
        messages = [f.message for f in lethe.check().findings if f.dataset == "events"]
        lethe.run()
    assert any('row by row: the dataset says partitions = "rows"' in m for m in messages)
    assert exists(app, P1)


def test_plan_and_dry_run_show_the_partition_and_change_nothing(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with lethe_for(pg_url, tmp_path) as lethe:
        plan = lethe.plan()
        (phase,) = plan.phases
        assert len(phase.keys) == SIZE + SIZE // 2
        assert [p["partition"] for p in phase.details["partitions"]] == [P1]
        result = lethe.run(dry_run=True)
        assert result.phases[0].details["partitions"][0]["rows"] == SIZE
        assert exists(app, P1) and len(ids(app)) == 3 * SIZE


def test_explain_names_the_partition_an_item_would_go_with(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    with lethe_for(pg_url, tmp_path) as lethe:
        assert lethe.explain("events", "5").verdicts[0].partition == P1
        assert lethe.explain("events", str(SIZE + 5)).verdicts[0].partition is None


def test_the_breaker_counts_a_partitions_rows_and_refuses_before_the_drop(
    app: Engine, pg_url: str, tmp_path: Path
) -> None:
    breaker = "[limits.breaker]\nmax_rows = 100\nmax_percent = 10"
    with lethe_for(pg_url, tmp_path, limits=breaker) as lethe:
        with pytest.raises(SafetyLimitError):
            lethe.run()
        assert exists(app, P1) and len(ids(app)) == 3 * SIZE


@pytest.mark.parametrize(("cap", "dropped"), [(SIZE + SIZE // 2, True), (SIZE, False)])
def test_max_deletions_counts_a_partitions_rows(
    app: Engine, pg_url: str, tmp_path: Path, cap: int, dropped: bool
) -> None:
    """A partition goes whole only when the phase's items all fit in the cap; otherwise the
    row path deletes exactly the first ``cap`` items in key order, as the plan says."""
    with lethe_for(pg_url, tmp_path, limits=f"max_deletions = {cap}") as lethe:
        planned = lethe.plan().phases[0]
        result = lethe.run()
    assert bool(planned.details) is dropped
    assert result.phases[0].acted == cap
    assert exists(app, P1) is not dropped
    assert ids(app)[0] == cap + 1


# -- a kill -9 between the detach and the drop ---------------------------------------------

KILL_AFTER = """
import os, signal, sys
from lethe.cli.app import main
from lethe.state.batches import BatchLog
from lethe.stores.sql.partitions import PartitionedDataset

point = sys.argv.pop(1)
autocommit, facts, prepare, commit = (
    PartitionedDataset._autocommit, PartitionedDataset._facts, BatchLog.prepare, BatchLog.commit
)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after_detach(self, *statements, **kwargs):
    autocommit(self, *statements, **kwargs)
    if point == "detach" and "DETACH PARTITION" in statements[-1]:
        die()

def after_digest(self, *args):
    found = facts(self, *args)
    if point == "digest":  # the digest read, its SHARE lock held, nothing recorded yet
        die()
    return found

def after_intent(self, *args, **kwargs):
    prepare(self, *args, **kwargs)
    if point == "intent":
        die()

def after_drop(self, *args, **kwargs):
    if point == "drop":
        die()
    commit(self, *args, **kwargs)

PartitionedDataset._autocommit = after_detach
PartitionedDataset._facts = after_digest
BatchLog.prepare = after_intent
BatchLog.commit = after_drop
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("point", "default"),
    [
        ("detach", False),
        ("detach", True),
        ("digest", False),
        ("intent", False),
        ("drop", False),
    ],
)
def test_a_run_killed_between_detach_and_drop_is_finished_by_the_next(
    app: Engine, pg_url: str, tmp_path: Path, point: str, default: bool
) -> None:
    """Killed after the detach (concurrent, or in its own short transaction when a default
    partition forbids CONCURRENTLY), after the digest (its read-only transaction holding the
    lock), after the intent (the drop's transaction dies), or after the drop committed (its
    event not yet in the ledger): the next run ends with p1 dropped, one ``partition_dropped``
    event with the right digest, and an audit that verifies."""
    if default:
        with app.begin() as conn:
            conn.execute(text("CREATE TABLE events_rest PARTITION OF events DEFAULT"))
    (tmp_path / "lethe.toml").write_text(policy(pg_url))
    script = tmp_path / "killer.py"
    script.write_text(KILL_AFTER)
    child = subprocess.run(
        [sys.executable, str(script), point, "-c", "lethe.toml", "run", "--as-of", NOW.isoformat()],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # The rows are out of the table at once (detached), and not dropped until the next run.
    assert len(ids(app)) == 2 * SIZE
    assert exists(app, P1) is (point != "drop")
    clock = ManualClock(datetime.now(UTC) + timedelta(minutes=5))  # past the dead run's lease
    with Lethe.from_file(tmp_path / "lethe.toml", clock=clock) as lethe:
        lethe.run(as_of=NOW)
        assert not exists(app, P1)
        (dropped,) = events(lethe, "partition_dropped")
        assert dropped["details"]["keys"]["sha256"] == digest(range(1, SIZE + 1))
        assert dropped["details"]["rows"] == SIZE
        assert ("recovered" in dropped["details"]) is (point == "drop")
        dead = lethe.run_record(dropped["run_id"])
        assert dead["phases"][0]["acted"] == (SIZE if point == "drop" else SIZE + SIZE // 2)
        assert lethe.verify_audit().ok
        assert ids(app) == list(range(SIZE + SIZE // 2 + 1, 3 * SIZE + 1))


def test_a_hold_placed_during_the_digest_keeps_the_partition(
    app: Engine, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holds are read again under the drop's lock: one placed while the digest was read
    sends the partition back into its table, and its rows to the row path."""
    with lethe_for(pg_url, tmp_path) as lethe:
        facts = PartitionedDataset._facts

        def hold_meanwhile(self: PartitionedDataset, *args: Any) -> PartitionFacts:
            found = facts(self, *args)
            lethe.holds.add("events", "7", "litigation", "legal")
            return found

        monkeypatch.setattr(PartitionedDataset, "_facts", hold_meanwhile)
        result = lethe.run()
        assert not events(lethe, "partition_dropped") and not result.phases[0].details
        assert lethe.verify_audit().ok
    assert ids(app)[0] == 7 and 8 not in ids(app)
    with app.connect() as conn:  # attached again, its mark gone
        row = conn.execute(
            text(
                "SELECT c.relispartition, obj_description(c.oid, 'pg_class') FROM pg_class c "
                "WHERE c.oid = CAST(:t AS regclass)"
            ),
            {"t": P1},
        ).one()
    assert tuple(row) == (True, None)


def test_a_write_waiting_for_the_detached_table_is_not_lost(
    app: Engine, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement writing the detached table during the digest waits for its lock; the drop
    then cannot join the lock without waiting behind that writer, so it checks the table again
    under one lock after the write: here the write made a row current, and the partition stays."""
    facts = PartitionedDataset._facts
    writer: list[threading.Thread] = []

    def write_meanwhile(self: PartitionedDataset, *args: Any) -> PartitionFacts:
        found = facts(self, *args)

        def update() -> None:
            with app.begin() as conn:
                conn.execute(text(f"UPDATE {P1} SET created_at = :now WHERE id = 10"), {"now": NOW})

        writer.append(threading.Thread(target=update))
        writer[0].start()
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = CAST(:t AS regclass)"
        )
        with app.connect() as conn:
            while not conn.execute(text(waiting), {"t": P1}).scalar():
                time.sleep(0.01)
        return found

    monkeypatch.setattr(PartitionedDataset, "_facts", write_meanwhile)
    with lethe_for(pg_url, tmp_path) as lethe:
        lethe.run()
        assert not events(lethe, "partition_dropped")
        assert lethe.verify_audit().ok
    writer[0].join()
    assert exists(app, P1)
    assert [i for i in ids(app) if i <= SIZE] == [10]


def test_the_command_line_names_the_partition(
    app: Engine,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "lethe.toml").write_text(policy(pg_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    as_of = ["--as-of", NOW.isoformat()]
    _, out, _ = run_cli(capsys, "check")
    assert "public.events is partitioned by range on id" in out
    _, out, _ = run_cli(capsys, "plan", *as_of)
    assert f"purge [0] drops partition {P1} whole: {SIZE} rows" in out
    _, out, _ = run_cli(capsys, "explain", "events", "5", *as_of)
    assert f"goes with partition {P1}, dropped whole" in out
    _, out, _ = run_cli(capsys, "run", "--dry-run", *as_of)
    assert f"Would drop partition {P1} whole: {SIZE} rows" in out
    code, out, _ = run_cli(capsys, "run", *as_of)
    assert code == 0 and f"Dropped partition {P1} whole: {SIZE} rows" in out
    assert not exists(app, P1)


# -- partitioned on the age column, keyed by (id, created_at) ------------------------------

MONTHLY = [
    ("events_2024_01", "2024-01-01", "2024-02-01", ["2024-01-15"]),
    ("events_2025_04", "2025-04-01", "2025-05-15", ["2025-04-10", "2025-05-10"]),
    ("events_2025_05", "2025-05-15", "2025-07-01", ["2025-05-30"]),
]


@pytest.fixture
def monthly(pg_url: str) -> Iterator[Engine]:
    """The layout PostgreSQL users choose: by range on the date, its primary key (id, date);
    the first partition all due, the second half due (retain 30 days from NOW), the third not."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL, "
                "PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)"
            )
        )
        next_id = 1
        for name, low, high, days in MONTHLY:
            conn.execute(
                text(
                    f"CREATE TABLE {name} PARTITION OF events "
                    f"FOR VALUES FROM ('{low} 00:00+00') TO ('{high} 00:00+00')"
                )
            )
            for day in days:
                conn.execute(
                    text(
                        "INSERT INTO events SELECT i, CAST(:d AS timestamptz) "
                        "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS i"
                    ),
                    {"d": f"{day} 12:00+00", "a": next_id, "b": next_id + 99},
                )
                next_id += 100
    yield engine
    engine.dispose()


def monthly_lethe(url: str, tmp_path: Path) -> Lethe:
    text_ = policy(url).replace('key = "id"', 'key = ["id", "created_at"]')
    return Lethe.from_toml(text_, base_dir=tmp_path, clock=ManualClock(NOW))


def key_texts(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, created_at FROM {table} ORDER BY id, created_at"))
        return [key_text(tuple(row)) for row in rows]


def test_a_month_partitioned_on_the_age_column_is_dropped_with_its_composite_keys(
    monthly: Engine, pg_url: str, tmp_path: Path
) -> None:
    expected = key_texts(monthly, "events_2024_01")
    with monthly_lethe(pg_url, tmp_path) as lethe:
        messages = [f.message for f in lethe.check().findings if f.dataset == "events"]
        assert any("by range on created_at: a partition whose" in m for m in messages)
        assert not any("not the age column" in m for m in messages)
        result = lethe.run()
        assert result.phases[0].acted == 200  # the old month whole, half of April's rows
        assert not exists(monthly, "public.events_2024_01")
        (dropped,) = events(lethe, "partition_dropped")
        assert dropped["details"]["keys"] == {
            "first": expected[0],
            "last": expected[-1],
            "sha256": hashlib.sha256("\n".join(expected).encode()).hexdigest(),
        }
        assert len(events(lethe, "hard_deleted")) == 100
        assert lethe.verify_audit().ok
    with monthly.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events_2025_04")).scalar() == 100


def test_a_held_composite_key_keeps_its_month(monthly: Engine, pg_url: str, tmp_path: Path) -> None:
    held = key_texts(monthly, "events_2024_01")[41]
    with monthly_lethe(pg_url, tmp_path) as lethe:
        lethe.holds.add("events", held, "litigation", "legal")
        lethe.run()
        assert key_texts(monthly, "events_2024_01") == [held]
        assert not events(lethe, "partition_dropped")


# -- the key digest: the server's key texts against lethe's ---------------------------------

#: Key layouts the digest is computed for on the server: each a list of PostgreSQL types.
LAYOUTS = [
    ["bigint"],
    ["integer"],
    ["text"],
    ["timestamptz"],
    ["timestamp"],
    ["date"],
    ["uuid"],
    ["bigint", "timestamptz"],
    ["text", "smallint"],
    ["uuid", "date", "varchar", "timestamp"],
]
#: Session time zones: UTC, offsets with minutes and (local mean time) seconds, and one psycopg
#: does not know (it then converts to UTC, and so must the server's texts).
ZONES = [
    "UTC",
    "Europe/Dublin",
    "Europe/Paris",
    "Asia/Kolkata",
    "America/St_Johns",
    "America/New_York",
    "UTC+3",
]
_INSTANTS = st.one_of(
    # Before 1920 most zones were still on local mean time: offsets with seconds.
    st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(1920, 1, 1)),
    st.datetimes(min_value=datetime(900, 1, 2), max_value=datetime(9998, 12, 30)),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "integer": st.integers(-(2**31), 2**31 - 1),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    # Any character PostgreSQL stores (not NUL): quotes, backslashes, controls, non-ASCII.
    "text": st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
    "varchar": st.text('ab"\\\n\t\x01é€😀', max_size=4),
    "timestamptz": _INSTANTS.map(lambda d: d.replace(tzinfo=UTC)),
    "timestamp": _INSTANTS,
    "date": st.dates(min_value=date(900, 1, 1)),
    "uuid": st.uuids(),
}


@st.composite
def keyed_rows(draw: st.DrawFn) -> tuple[list[str], str, list[tuple[Any, ...]]]:
    layout = draw(st.sampled_from(LAYOUTS))
    zone = draw(st.sampled_from(ZONES))
    row = st.tuples(*(VALUES[t] for t in layout))
    rows = draw(st.lists(row, min_size=1, max_size=30, unique=True))
    return layout, zone, rows


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keyed_rows())
def test_the_servers_key_texts_and_digest_are_lethes(
    pg_url: str, case: tuple[list[str], str, list[tuple[Any, ...]]]
) -> None:
    """The digest computed from the server's key texts equals the one documented: lethe's
    ``key_text`` of each key as the driver returns it, sorted, newline-joined, SHA-256."""
    layout, zone, rows = case
    engine = create_engine(pg_url)
    names = [f"k{i}" for i in range(len(layout))]
    columns = ", ".join(f"{n} {t} NOT NULL" for n, t in zip(names, layout, strict=True))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS keyed"))
            conn.execute(text(f"CREATE TABLE keyed ({columns}, PRIMARY KEY ({', '.join(names)}))"))
            marks = ", ".join(f":{n}" for n in names)
            conn.execute(
                text(f"INSERT INTO keyed VALUES ({marks})"),
                [dict(zip(names, r, strict=True)) for r in rows],
            )
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SET TimeZone = '{zone}'")
            table = Table("keyed", MetaData(), autoload_with=conn)
            typed = [(n, table.c[n].type) for n in names]
            back = conn.execute(text(f"SELECT {', '.join(names)} FROM keyed")).all()
            keys = sorted(r[0] if len(names) == 1 else tuple(r) for r in back)
            expected = [key_text(k) for k in keys]
            # all the texts at once, streamed, and written by lethe from the values
            computed = [digest_keys(conn, "keyed", typed, len(rows))]
            computed.append(digest_keys(conn, "keyed", typed))
            with patch("lethe.stores.sql.partition_digest.session_zone", return_value=None):
                computed.append(digest_keys(conn, "keyed", typed))
            expression = key_text_sql(typed)
            assert expression is not None
            served = conn.exec_driver_sql(f"SELECT {expression} FROM keyed").scalars().all()
    finally:
        engine.dispose()
    assert sorted(served) == sorted(expected)
    hexdigest = hashlib.sha256("\n".join(expected).encode()).hexdigest()
    for digest_ in computed:
        assert (digest_.first, digest_.last, digest_.rows) == (expected[0], expected[-1], len(rows))
        assert digest_.hexdigest() == hexdigest
