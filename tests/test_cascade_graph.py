"""Self-referencing tables, cycles between tables and pathological depths: the cascade follows
rows, not Python recursion, and refuses at load a cycle nothing can break. SQLite, PostgreSQL and
MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lethe import Lethe
from lethe.stores.sql import closure
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for
from tests.support.cli import run_cli

TREE = """
CREATE TABLE folders (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES folders(id) ON DELETE {rule},
    due_at {ts} NOT NULL
);
CREATE INDEX ix_folders_parent ON folders (parent_id);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE
);
CREATE INDEX ix_files_folder ON files (folder_id);
"""

# 1 ─┬─ 2 ─── 4 ─── 7      10 (not due) ── 11 (not due)
#    └─ 3 ─┬─ 5
#          └─ 6            20 (due) ── 21 (not due)
FOLDERS = [
    (1, None, "2000-01-01"),
    (2, 1, "2999-01-01"),
    (3, 1, "2999-01-01"),
    (4, 2, "2999-01-01"),
    (5, 3, "2999-01-01"),
    (6, 3, "2999-01-01"),
    (7, 4, "2999-01-01"),
    (10, None, "2999-01-01"),
    (11, 10, "2999-01-01"),
    (20, None, "2000-01-01"),
    (21, 20, "2999-01-01"),
]
FILES = [(100, 1), (101, 4), (102, 7), (103, 7), (110, 11), (120, 21)]

POLICY = """
[stores.app]
url = "{url}"

[datasets.{table}]
table = "{table}"
key = "id"
due_column = "due_at"
{extra}

[policies.erase]
dataset = "{table}"
actions = [{{ type = "purge" }}]
"""


def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    server = "pg_url" if request.param == "postgresql" else "mariadb_url"
    return str(request.getfixturevalue(server))


def _run_sql(engine: Engine, script: str) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        for statement in script.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def _ts(engine: Engine) -> str:
    return "DATETIME" if engine.dialect.name == "mysql" else "TIMESTAMP"


def _tree(url: str, rule: str) -> Engine:
    engine = engine_for(url)
    rows = ", ".join(f"({i}, {'NULL' if p is None else p}, '{d} 00:00:00')" for i, p, d in FOLDERS)
    files = ", ".join(f"({i}, {f})" for i, f in FILES)
    _run_sql(
        engine,
        TREE.format(rule=rule, ts=_ts(engine))
        + f"; INSERT INTO folders VALUES {rows}; INSERT INTO files VALUES {files}",
    )
    return engine


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield _url(request, tmp_path)


def _lethe(url: str, tmp_path: Path, table: str = "folders", extra: str = "") -> Lethe:
    policy = POLICY.format(url=url, table=table, extra=extra)
    return Lethe.from_toml(policy, base_dir=tmp_path, clock=ManualClock(NOW))


def _ids(engine: Engine, table: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT id FROM {table}")).scalars())


def test_a_tree_three_levels_deep_goes_with_its_root(url: str, tmp_path: Path) -> None:
    engine = _tree(url, "CASCADE")
    with _lethe(url, tmp_path) as lethe:
        plan = lethe.plan().phases[0]
        result = lethe.run().phases[0]
    expected = {"folders": 7, "files": 5}  # 2-7 and 21; every file but 110
    assert dict(plan.cascade) == expected and dict(result.cascade) == expected
    assert result.acted == 2 and plan.blocked == {}
    assert _ids(engine, "folders") == {10, 11}
    assert _ids(engine, "files") == {110}


def test_a_no_action_tree_blocks_until_its_edge_is_opted_in(url: str, tmp_path: Path) -> None:
    engine = _tree(url, "NO ACTION")
    with _lethe(url, tmp_path) as lethe:
        phase = lethe.plan().phases[0]
    assert phase.blocked == {
        "1": "blocked by folders.parent_id = 1 (folders key 2)",
        "20": "blocked by folders.parent_id = 20 (folders key 21)",
    }
    extra = 'on_delete = { "folders.parent_id" = "cascade" }'
    with _lethe(url, tmp_path, extra=extra) as lethe:
        result = lethe.run().phases[0]
    # Leaves first, row by row: neither RESTRICT-like checks (SQLite, InnoDB check each row at
    # once) nor a NO ACTION check at the end of the statement ever sees a dangling child.
    assert (result.acted, dict(result.cascade)) == (2, {"folders": 7, "files": 5})
    assert _ids(engine, "folders") == {10, 11}


def test_a_set_null_tree_keeps_the_children_as_new_roots(url: str, tmp_path: Path) -> None:
    engine = _tree(url, "SET NULL")
    with _lethe(url, tmp_path) as lethe:
        result = lethe.run().phases[0]
    assert result.acted == 2 and dict(result.updated) == {"folders": 3}
    assert dict(result.cascade) == {"files": 1}
    with engine.connect() as conn:
        parents = dict(conn.execute(text("SELECT id, parent_id FROM folders")).all())  # type: ignore[arg-type]
    assert {k: parents[k] for k in (2, 3, 21)} == {2: None, 3: None, 21: None}


CYCLE = """
CREATE TABLE teams (id INTEGER PRIMARY KEY, captain_id INTEGER, due_at {ts} NOT NULL);
CREATE TABLE players (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE
);
CREATE INDEX ix_players_team ON players (team_id);
CREATE INDEX ix_teams_captain ON teams (captain_id);
ALTER TABLE teams ADD CONSTRAINT fk_captain FOREIGN KEY (captain_id) REFERENCES players(id)
    ON DELETE CASCADE
"""


def _cycle(url: str, captain: str = "captain_id INTEGER") -> Engine:
    engine = engine_for(url)
    script = CYCLE.format(ts=_ts(engine)).replace("captain_id INTEGER", captain)
    if engine.dialect.name == "sqlite":  # no ADD CONSTRAINT: the key is declared inline
        inline = f"{captain} REFERENCES players(id) ON DELETE CASCADE"
        script = script.replace(captain, inline).split("ALTER TABLE")[0]
    _run_sql(engine, script)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        conn.execute(
            text(
                "INSERT INTO teams (id, captain_id, due_at) VALUES "
                "(1, NULL, '2000-01-01 00:00:00'), (2, NULL, '2999-01-01 00:00:00')"
            )
        )
        conn.execute(text("INSERT INTO players VALUES (10, 1), (11, 1), (20, 2)"))
        conn.execute(text("UPDATE teams SET captain_id = 10 WHERE id = 1"))
        conn.execute(text("UPDATE teams SET captain_id = 20 WHERE id = 2"))
    return engine


def test_a_cycle_between_tables_is_broken_through_its_nullable_edge(
    url: str, tmp_path: Path
) -> None:
    engine = _cycle(url)
    with _lethe(url, tmp_path, "teams") as lethe:
        plan = lethe.plan().phases[0]
        result = lethe.run().phases[0]
    assert dict(plan.cascade) == dict(result.cascade) == {"players": 2}
    assert result.acted == 1
    assert _ids(engine, "teams") == {2} and _ids(engine, "players") == {20}


def test_a_cycle_with_no_nullable_edge_is_refused_at_load(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    engine = engine_for(app)
    _run_sql(
        engine,
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER NOT NULL REFERENCES b(id) "
        "ON DELETE CASCADE, due_at TIMESTAMP NOT NULL);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a(id) "
        "ON DELETE CASCADE)",
    )
    (tmp_path / "lethe.toml").write_text(POLICY.format(url=app, table="a", extra=""))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "plan")
    assert code == 2
    line = "the foreign keys a → b → a form a cycle with no nullable column to break it"
    assert line in out + err
    assert len((out + err).strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_a_pathological_depth_is_a_clear_error_never_a_recursion_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = f"sqlite:///{tmp_path / 'app.db'}"
    engine = engine_for(app)
    _run_sql(engine, TREE.format(rule="CASCADE", ts="TIMESTAMP"))
    depth = 1500  # deeper than Python's recursion limit allows a recursive walk
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO folders VALUES (1, NULL, '2000-01-01 00:00:00')"))
        conn.execute(
            text("INSERT INTO folders VALUES (:i, :p, '2999-01-01 00:00:00')"),
            [{"i": i, "p": i - 1} for i in range(2, depth + 1)],
        )
    with _lethe(app, tmp_path) as lethe:
        assert dict(lethe.plan().phases[0].cascade) == {"folders": depth - 1}
        monkeypatch.setattr(closure, "MAX_DEPTH", 100)
        refused = lethe.run()
        assert not refused.ok and refused.phases[0].acted == 0
        assert "the cascade of folders goes deeper than 100 levels" in refused.errors[0]
        assert len(_ids(engine, "folders")) == depth
        monkeypatch.undo()
        result = lethe.run().phases[0]
    assert dict(result.cascade) == {"folders": depth - 1}
    assert _ids(engine, "folders") == set()


def test_a_held_row_the_cascade_reaches_keeps_its_ancestor(url: str, tmp_path: Path) -> None:
    """A held folder deep in a due folder's tree is never deleted by the cascade: the due
    folder waits, whether the hold is lethe's or the tree's root itself is not held."""
    engine = _tree(url, "CASCADE")
    with _lethe(url, tmp_path) as lethe:
        lethe.holds.add("folders", "4", "litigation", "dpo")
        plan = lethe.plan().phases[0]
        result = lethe.run().phases[0]
        explained = lethe.explain("folders", "1")
    assert plan.blocked == {"1": "blocked by a hold on folders key 4"}
    assert (result.acted, result.blocked) == (1, 1)
    assert _ids(engine, "folders") >= {1, 2, 3, 4, 5, 6, 7}
    assert _ids(engine, "folders") == {1, 2, 3, 4, 5, 6, 7, 10, 11}
    assert explained.verdicts[0].waits_for == "blocked by a hold on folders key 4"
