"""A failing row never stops the others: a batch the database refuses (a foreign key the cascade
does not cover, a trigger, a constraint checked at commit) is rolled back and bisected; only the
refused items are skipped (``skipped_error``), named with their table, key and the database's
message; the rest are deleted, the run is degraded, and the next run tries them again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from lethe import Lethe, RunStatus
from lethe.cli.app import main
from lethe.engine.bisection import Refused, isolate
from lethe.engine.stop import StopFlag
from lethe.errors import DataRefusedError
from lethe.model.keys import ItemKey
from lethe.testing import ManualClock
from tests.support.apps import engine_for
from tests.support.crash import KILL_AT_THIRD_INTENT

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
PARENTS = 1000
REFUSED = (17, 500, 999)

POLICY = """
[limits]
batch_size = {batch}
batch_seconds = 0
[limits.breaker]
enabled = false

[stores.app]
url = "{url}"

[datasets.parents]
table = "parents"
key = "id"
age_column = "created_at"
retain = "30d"
cascade = {cascade}

[policies.expire]
dataset = "parents"
[[policies.expire.actions]]
type = "purge"
"""


def _schema(engine: Engine, guard_rule: str = "RESTRICT", deferred: bool = False) -> None:
    """``parents`` (all due) and ``guards`` pointing at three of them through a foreign key the
    policy's ``cascade = "none"`` leaves to the database."""
    later = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY, created_at TIMESTAMP)"))
        conn.execute(
            text(
                "CREATE TABLE guards (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, "
                f"FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE {guard_rule}{later})"
            )
        )
        rows = [{"id": n, "at": OLD.replace(tzinfo=None)} for n in range(1, PARENTS + 1)]
        conn.execute(text("INSERT INTO parents (id, created_at) VALUES (:id, :at)"), rows)
        conn.execute(
            text("INSERT INTO guards (id, parent_id) VALUES (:id, :parent)"),
            [{"id": i, "parent": key} for i, key in enumerate(REFUSED, 1)],
        )


def _remaining(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(k) for k in conn.execute(text("SELECT id FROM parents")).scalars()}


NONE = '"none"'
CHILDREN = '[{ table = "children", columns = ["parent_id"] }]'


def _policy(url: str, batch: int = 1000, cascade: str = NONE) -> str:
    return POLICY.format(url=url, batch=batch, cascade=cascade)


def _lethe(url: str, tmp_path: Path, batch: int = 1000, cascade: str = NONE, **kw: Any) -> Lethe:
    return Lethe.from_toml(
        _policy(url, batch, cascade), base_dir=tmp_path, env=dict(os.environ), **kw
    )


def _events(lethe: Lethe, event: str) -> list[dict[str, Any]]:
    return [e for e in lethe.runtime.ledger.iter_events() if e["event"] == event]


def _assert_refused_three(lethe: Lethe, engine: Engine, needle: str) -> None:
    """The first run: 997 deleted, the 3 named (table, key, the database's message)."""
    result = lethe.run(as_of=NOW)
    phase = result.phases[0]
    assert result.status is RunStatus.DEGRADED
    assert (phase.acted, phase.failed) == (PARENTS - 3, 3)
    assert _remaining(engine) == set(REFUSED)
    assert len(result.errors) == 3
    for key, error in zip(REFUSED, result.errors, strict=True):
        assert f"parents {key}:" in error and needle in error.lower(), error
    skipped = _events(lethe, "skipped_error")
    assert [int(e["item_key"]) for e in skipped] == list(REFUSED)
    assert all(needle in e["details"]["error"].lower() for e in skipped)
    assert len(_events(lethe, "hard_deleted")) == PARENTS - 3
    assert lethe.runtime.batches.pending() == []  # every sub-batch's intent was settled
    record = lethe.runs(1)[0]
    assert record["status"] == "degraded"


def _assert_retried(lethe: Lethe, engine: Engine) -> None:
    again = lethe.run(as_of=NOW)
    assert again.ok and again.deleted == 3, again.errors
    assert _remaining(engine) == set()
    assert lethe.verify_audit().ok


def test_a_foreign_key_the_cascade_leaves_out_skips_only_its_parents(
    app_url: str, tmp_path: Path
) -> None:
    engine = engine_for(app_url)
    _schema(engine)
    with _lethe(app_url, tmp_path) as lethe:
        _assert_refused_three(lethe, engine, "foreign key")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM guards"))
        _assert_retried(lethe, engine)


def _refusing_trigger(engine: Engine) -> None:
    keys = ", ".join(str(k) for k in REFUSED)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER frozen BEFORE DELETE ON parents "
                    f"WHEN OLD.id IN ({keys}) BEGIN SELECT RAISE(ABORT, 'parent is frozen'); END"
                )
            )
        elif engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF OLD.id IN ({keys}) THEN RAISE EXCEPTION 'parent % is frozen', OLD.id; "
                    "END IF; RETURN OLD; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER frozen BEFORE DELETE ON parents "
                    "FOR EACH ROW EXECUTE FUNCTION frozen()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER frozen BEFORE DELETE ON parents FOR EACH ROW BEGIN "
                    f"IF OLD.id IN ({keys}) THEN SIGNAL SQLSTATE '45000' "
                    "SET MESSAGE_TEXT = 'parent is frozen'; END IF; END"
                )
            )


def test_a_trigger_refusing_three_keys_skips_only_those(app_url: str, tmp_path: Path) -> None:
    engine = engine_for(app_url)
    _schema(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM guards"))
    _refusing_trigger(engine)
    with _lethe(app_url, tmp_path) as lethe:
        _assert_refused_three(lethe, engine, "is frozen")
        with engine.begin() as conn:
            on = " ON parents" if engine.dialect.name == "postgresql" else ""
            conn.execute(text(f"DROP TRIGGER frozen{on}"))
        _assert_retried(lethe, engine)


def test_a_constraint_checked_at_commit_is_isolated_too(pg_url: str, tmp_path: Path) -> None:
    """A deferred foreign key fails at COMMIT, after the batch's intent was recorded: the
    intent is settled (nothing was applied) and the batch bisected like any other."""
    engine = engine_for(pg_url)
    _schema(engine, guard_rule="NO ACTION", deferred=True)
    with _lethe(pg_url, tmp_path) as lethe:
        _assert_refused_three(lethe, engine, "foreign key")
        aborted = lethe.runtime.state
        with aborted.read() as conn:
            statuses = conn.execute(text("SELECT status FROM lethe_batches")).scalars().all()
        assert "aborted" in statuses and "pending" not in statuses
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM guards"))
        _assert_retried(lethe, engine)


def test_small_batches_and_the_command_line(
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``batch_size = 1`` every other parent still goes; ``lethe run`` exits 1, and ``lethe
    runs show`` and ``lethe explain`` name the error."""
    engine = engine_for(sqlite_url)
    _schema(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM parents WHERE id > 20 AND id NOT IN {REFUSED}"))
    (tmp_path / "lethe.toml").write_text(_policy(sqlite_url, batch=1))
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--as-of", NOW.isoformat()])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert _remaining(engine) == set(REFUSED)
    assert "Skipped, refused by the store (tried again next run): 3 parents" in out
    code = main(["runs", "show", "run-"])
    out, _ = capsys.readouterr()
    assert code == 0 and "parents 500: deleting from parents: FOREIGN KEY" in out
    main(["explain", "parents", "500"])
    out, _ = capsys.readouterr()
    print(out)
    assert "skipped_error" in out and "FOREIGN KEY constraint failed" in out


def _with_children(engine: Engine) -> None:
    """Two children per parent, which the policy's cascade deletes; no guards; the trigger."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM guards"))
        conn.execute(
            text(
                "CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, "
                "FOREIGN KEY (parent_id) REFERENCES parents (id))"
            )
        )
        conn.execute(
            text("INSERT INTO children (id, parent_id) VALUES (:id, :parent)"),
            [{"id": 2 * n + i, "parent": n} for n in range(1, PARENTS + 1) for i in (0, 1)],
        )
    _refusing_trigger(engine)


def _children_of(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT parent_id, count(*) FROM children GROUP BY parent_id"))
        return {int(parent): int(count) for parent, count in rows}


def _whole_or_gone(engine: Engine) -> set[int]:
    """Every parent left has both its children, and no child outlives its parent."""
    remaining, children = _remaining(engine), _children_of(engine)
    assert set(children) == remaining and set(children.values()) <= {2}, "half-deleted parent"
    return remaining


def test_the_refused_parents_keep_their_children(app_url: str, tmp_path: Path) -> None:
    """The children a refused batch deleted before its parents come back with the rollback;
    the run counts exactly the children that went."""
    engine = engine_for(app_url)
    _schema(engine)
    _with_children(engine)
    with _lethe(app_url, tmp_path, cascade=CHILDREN) as lethe:
        result = lethe.run(as_of=NOW)
        assert (result.phases[0].acted, result.phases[0].failed) == (PARENTS - 3, 3)
        assert _whole_or_gone(engine) == set(REFUSED)
        assert dict(result.phases[0].cascade) == {"children": 2 * (PARENTS - 3)}
        assert result.counts()["children"] == {"purge": 2 * (PARENTS - 3)}


def test_a_stop_during_a_bisection_ends_the_run_between_two_smaller_batches(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = engine_for(sqlite_url)
    _schema(engine)
    _with_children(engine)
    stop = StopFlag()
    with _lethe(sqlite_url, tmp_path, cascade=CHILDREN) as lethe:
        result = lethe.run(as_of=NOW, stop=stop, progress=lambda _: stop.set("test"))
        assert result.status is RunStatus.INTERRUPTED
        left = _whole_or_gone(engine)
        assert set(REFUSED) < left and 0 < PARENTS - len(left) < PARENTS - 3
        assert len(_events(lethe, "hard_deleted")) == PARENTS - len(left)
        assert lethe.runtime.batches.pending() == []


def test_sigkill_in_the_middle_of_a_bisection_leaves_nothing_half_deleted(
    app_url: str, tmp_path: Path
) -> None:
    # Killed after the third smaller batch recorded its intent, before its transaction committed.
    engine = engine_for(app_url)
    _schema(engine)
    _with_children(engine)
    policy = tmp_path / "lethe.toml"
    policy.write_text(_policy(app_url, cascade=CHILDREN))
    script = tmp_path / "killer.py"
    script.write_text(KILL_AT_THIRD_INTENT)
    child = subprocess.run(
        [sys.executable, str(script), "-c", str(policy), "run", "--as-of", NOW.isoformat()],
        capture_output=True,
        cwd=tmp_path,
        env=dict(os.environ),
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = _whole_or_gone(engine)
    assert 0 < PARENTS - len(left) < PARENTS - 3  # two smaller batches committed, not the third
    later = ManualClock(datetime.now(UTC) + timedelta(minutes=3))  # past the dead run's lease
    with _lethe(app_url, tmp_path, cascade=CHILDREN, clock=later) as lethe:
        assert lethe.run(as_of=NOW).status is RunStatus.DEGRADED
        assert _whole_or_gone(engine) == set(REFUSED)
        deleted = [int(e["item_key"]) for e in _events(lethe, "hard_deleted")]
        assert sorted(deleted) == sorted(set(range(1, PARENTS + 1)) - set(REFUSED))
        assert lethe.runtime.batches.pending() == []
        assert lethe.verify_audit().ok


@given(
    size=st.integers(1, 300),
    data=st.data(),
)
def test_bisection_skips_exactly_the_refused_keys_in_few_batches(size: int, data: Any) -> None:
    """Against an oracle: a batch is refused iff it holds a bad key. Every bad key is skipped,
    alone and in key order, every other key is acted on once, in key order, within
    ``2·f·ceil(log2 n)`` smaller batches."""
    keys = list(range(size))
    bad = set(data.draw(st.sets(st.sampled_from(keys), min_size=1, max_size=size)))
    acted: list[ItemKey] = []
    batches = 0

    def attempt(chunk: Any) -> int:
        nonlocal batches
        batches += 1
        if bad & set(chunk):
            raise Refused(chunk, DataRefusedError("refused"), f"b{batches}")
        acted.extend(chunk)
        return len(chunk)

    skipped: list[ItemKey] = []
    first = Refused(keys, DataRefusedError("refused"), "b0")
    total = isolate(first, attempt, lambda r: skipped.extend(r.keys))
    assert skipped == sorted(bad)
    assert acted == sorted(set(keys) - bad) and total == len(acted)
    assert batches <= 2 * len(bad) * max(1, (size - 1).bit_length())


def test_a_planned_run_bisects_the_same_way(sqlite_url: str, tmp_path: Path) -> None:
    """``run --plan`` locks the plan's keys: a refused batch of them is bisected like any."""
    engine = engine_for(sqlite_url)
    _schema(engine)
    with _lethe(sqlite_url, tmp_path) as lethe:
        planned = lethe.plan(as_of=NOW)
        result = lethe.run(as_of=NOW, plan=planned)
        assert result.status is RunStatus.DEGRADED
        assert (result.phases[0].acted, result.phases[0].failed) == (PARENTS - 3, 3)
        assert result.drift["no_longer_due"] == 0
        assert _remaining(engine) == set(REFUSED)


UPDATE_POLICY = """
[limits]
batch_seconds = 0
[stores.app]
url = "{url}"
[datasets.jobs]
table = "jobs"
key = "id"
age_column = "created_at"
retain = "30d"
[policies.expire]
dataset = "jobs"
[[policies.expire.actions]]
type = "update"
set = {{ state = "expired" }}
"""


def test_an_update_a_check_constraint_refuses_is_isolated(app_url: str, tmp_path: Path) -> None:
    """Not only deletions: an UPDATE refused by a CHECK constraint skips only its rows."""
    engine = engine_for(app_url)
    keys = ", ".join(str(k) for k in REFUSED)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE jobs (id INTEGER PRIMARY KEY, created_at TIMESTAMP, "
                f"state VARCHAR(20), CHECK (state IS NULL OR id NOT IN ({keys})))"
            )
        )
        conn.execute(
            text("INSERT INTO jobs (id, created_at) VALUES (:id, :at)"),
            [{"id": n, "at": OLD.replace(tzinfo=None)} for n in range(1, PARENTS + 1)],
        )
    policy = UPDATE_POLICY.format(url=app_url)
    with Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ)) as lethe:
        result = lethe.run(as_of=NOW)
        assert result.status is RunStatus.DEGRADED
        assert (result.phases[0].acted, result.phases[0].failed) == (PARENTS - 3, 3)
        for key, error in zip(REFUSED, result.errors, strict=True):
            assert f"jobs {key}: updating jobs:" in error and "constraint" in error.lower()
    with engine.connect() as conn:
        untouched = conn.execute(text("SELECT id FROM jobs WHERE state IS NULL")).scalars()
        assert {int(k) for k in untouched} == set(REFUSED)


def test_a_phase_names_at_most_a_hundred_refused_items(sqlite_url: str, tmp_path: Path) -> None:
    """Every refused item has its event; the run's errors name the first hundred and count the
    rest in one line."""
    engine = engine_for(sqlite_url)
    _schema(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM guards"))
        conn.execute(text("DELETE FROM parents WHERE id > 200"))
        conn.execute(
            text("INSERT INTO guards (id, parent_id) VALUES (:id, :parent)"),
            [{"id": n, "parent": n} for n in range(1, 121)],
        )
    with _lethe(sqlite_url, tmp_path) as lethe:
        result = lethe.run(as_of=NOW)
        assert (result.phases[0].acted, result.phases[0].failed) == (80, 120)
        assert len(_events(lethe, "skipped_error")) == 120
        assert len(result.errors) == 101
        assert "parents 100:" in result.errors[99]
        assert result.errors[100].endswith(
            "parents: 20 more items refused by the store (each has its skipped_error event)"
        )
