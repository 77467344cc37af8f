"""A SQL dataset's key must be unique, proven from the schema before anything is written, and
every destructive statement carries the due condition itself (defence in depth).

The shape is the demo's ``survey_progress``: progress rows keyed by ``id``, with a
``survey_id`` that repeats. ``key = "survey_id"`` would delete every row of a survey that has
one due row, including rows updated two days ago.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, Table, insert, select

from lethe import Lethe, LiveCheckError, StoreError
from lethe.cli.app import main
from lethe.stores.sql import store as sql_store
from tests.support.apps import engine_for

NOW = datetime.now(UTC)
#: id → (survey_id, days since last update); due after 30 days.
ROWS = {1: (4, 40), 2: (4, 40), 3: (4, 2), 4: (5, 40), 5: (6, 3)}
DUE = {1, 2, 4}

POLICY = """
[state]
url = "sqlite:///{state}/state.db"
[limits.breaker]
enabled = false
[stores.app]
url = "{url}"
[datasets.progress]
table = "survey_progress"
key = "{key}"
age_column = "updated_at"
retain = "30d"
where = [{{ column = "is_complete", equals = false }}]
[policies.cleanup]
dataset = "progress"
[[policies.cleanup.actions]]
type = "purge"
"""


def _seed(url: str) -> Table:
    engine = engine_for(url)
    table = Table(
        "survey_progress",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("survey_id", Integer, nullable=False),
        Column("is_complete", Boolean, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {
                    "id": i,
                    "survey_id": survey,
                    "is_complete": False,
                    "updated_at": NOW - timedelta(days=days),
                }
                for i, (survey, days) in ROWS.items()
            ],
        )
    return table


def _ids(url: str, table: Table) -> set[int]:
    with engine_for(url).connect() as conn:
        return set(conn.execute(select(table.c.id)).scalars())


def _policy(tmp_path: Path, url: str, key: str) -> Path:
    path = tmp_path / "lethe.toml"
    path.write_text(POLICY.format(state=tmp_path, url=url, key=key))
    return path


def test_plan_and_run_refuse_a_key_that_is_not_declared_unique(
    app_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _seed(app_url)
    policy = _policy(tmp_path, app_url, "survey_id")
    for command in (["plan"], ["run"], ["run", "--dry-run"], ["check"]):
        code = main(["-c", str(policy), *command])
        err = capsys.readouterr().err
        assert code == 2, command
        if command != ["check"]:
            assert err.strip().count("\n") == 0, err
            assert "survey_progress.survey_id is not unique" in err
    assert _ids(app_url, table) == set(ROWS)
    with Lethe.from_file(policy) as lethe, pytest.raises(LiveCheckError, match="not unique"):
        lethe.run()
    assert _ids(app_url, table) == set(ROWS)


def test_the_primary_key_proves_a_key(app_url: str, tmp_path: Path) -> None:
    table = _seed(app_url)
    with Lethe.from_file(_policy(tmp_path, app_url, "id")) as lethe:
        assert lethe.run().deleted == len(DUE)
    assert _ids(app_url, table) == set(ROWS) - DUE


@pytest.mark.parametrize(
    ("declaration", "proves"),
    [
        ("ALTER TABLE survey_progress ADD CONSTRAINT uq_token UNIQUE (token)", True),
        ("CREATE UNIQUE INDEX ix_token ON survey_progress (token)", True),
        ("CREATE UNIQUE INDEX ix_token ON survey_progress (token) WHERE is_complete", False),
        ("CREATE UNIQUE INDEX ix_token ON survey_progress (token, id)", False),
        ("CREATE INDEX ix_token ON survey_progress (token)", False),
    ],
)
def test_a_unique_constraint_or_full_unique_index_proves_a_key(
    app_url: str, tmp_path: Path, declaration: str, proves: bool
) -> None:
    """Only uniqueness over every row proves a key: not a partial or a wider unique index."""
    if declaration.startswith("ALTER") and app_url.startswith("sqlite"):
        pytest.skip("SQLite cannot add a constraint to an existing table")
    if "WHERE" in declaration and app_url.startswith("mysql"):
        pytest.skip("MariaDB has no partial indexes")
    table = _seed(app_url)
    engine = engine_for(app_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE survey_progress ADD COLUMN token INTEGER")
        conn.exec_driver_sql("UPDATE survey_progress SET token = id")
        conn.exec_driver_sql(declaration)
    with Lethe.from_file(_policy(tmp_path, app_url, "token")) as lethe:
        if proves:
            assert lethe.run().deleted == len(DUE)
        else:
            with pytest.raises(LiveCheckError, match=r"survey_progress\.token is not unique"):
                lethe.plan()
    assert _ids(app_url, table) == (set(ROWS) - DUE if proves else set(ROWS))


def test_the_delete_itself_carries_the_due_condition(
    app_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the uniqueness proof bypassed, the DELETE by a repeated key
    still removes only rows that are due (row 3 shares survey 4 but was updated 2 days ago)."""
    table = _seed(app_url)
    monkeypatch.setattr(
        sql_store, "require_unique_key", lambda table, key, where: None, raising=False
    )
    with Lethe.from_file(_policy(tmp_path, app_url, "survey_id")) as lethe:
        lethe.run()
    assert _ids(app_url, table) == set(ROWS) - DUE


def test_a_locked_row_the_delete_misses_rolls_the_whole_batch_back(
    app_url: str, tmp_path: Path
) -> None:
    """Should the root DELETE not match a row the batch holds, nothing of the batch stays."""
    table = _seed(app_url)
    with Lethe.from_file(_policy(tmp_path, app_url, "id")) as lethe:
        target = lethe.runtime.target("cleanup")
        selection = target.selection(0, NOW)
        failing = pytest.raises(StoreError, match="deleted 1 of 2 locked rows")
        with failing, target.handle.open_batch() as batch:
            assert {i.key for i in batch.lock(selection, limit=10, skip_locked=False)} == DUE
            batch.delete([1, 3])  # 3 was never due
    assert _ids(app_url, table) == set(ROWS)
