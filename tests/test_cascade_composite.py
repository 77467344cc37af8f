"""Composite primary keys and composite foreign keys below the dataset's table: rows are told
apart by their whole key, edges named ``child.col1,col2``. SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe import Lethe
from lethe.errors import LiveCheckError
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for, rows, schema_on

SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, due_at {ts} NOT NULL);
CREATE TABLE projects (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    num INTEGER NOT NULL,
    PRIMARY KEY (account_id, num)
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    project_num INTEGER NOT NULL,
    FOREIGN KEY (account_id, project_num) REFERENCES projects (account_id, num)
        ON DELETE CASCADE
);
CREATE INDEX ix_tasks ON tasks (account_id, project_num);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    project_num INTEGER NOT NULL,
    FOREIGN KEY (account_id, project_num) REFERENCES projects (account_id, num)
        ON DELETE RESTRICT
);
CREATE INDEX ix_reviews ON reviews (account_id, project_num);
INSERT INTO accounts VALUES (1, '2000-01-01 00:00:00'), (2, '2000-01-01 00:00:00'),
    (3, '2999-01-01 00:00:00');
INSERT INTO projects VALUES (1, 1), (1, 2), (2, 1), (3, 1);
INSERT INTO tasks VALUES (10, 1, 1), (11, 1, 2), (12, 2, 1), (13, 3, 1);
INSERT INTO reviews VALUES (20, 2, 1), (21, 3, 1)
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.accounts]
table = "accounts"
key = "id"
due_column = "due_at"
{extra}

[policies.erase]
dataset = "accounts"
actions = [{{ type = "purge" }}]
"""


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return schema_on(request.param, request, tmp_path, SCHEMA)


def _lethe(url: str, tmp_path: Path, extra: str = "") -> Lethe:
    policy = POLICY.format(url=url, extra=extra)
    return Lethe.from_toml(policy, base_dir=tmp_path, clock=ManualClock(NOW))


def test_composite_keys_cascade_and_block_by_the_whole_key(url: str, tmp_path: Path) -> None:
    engine = engine_for(url)
    with _lethe(url, tmp_path) as lethe:
        plan = lethe.plan().phases[0]
        result = lethe.run().phases[0]
    assert plan.blocked == {"2": "blocked by reviews.account_id,project_num = 2,1 (reviews key 20)"}
    assert dict(plan.cascade) == dict(result.cascade) == {"projects": 2, "tasks": 2}
    assert (result.acted, result.blocked) == (1, 1)
    assert rows(engine, "SELECT account_id, num FROM projects") == {(2, 1), (3, 1)}
    assert rows(engine, "SELECT id FROM tasks") == {(12,), (13,)}


def test_a_composite_edge_is_overridden_by_all_its_columns(url: str, tmp_path: Path) -> None:
    engine = engine_for(url)
    extra = 'on_delete = { "reviews.account_id,project_num" = "cascade" }'
    with _lethe(url, tmp_path, extra) as lethe:
        result = lethe.run().phases[0]
    assert result.acted == 2
    assert dict(result.cascade) == {"projects": 3, "tasks": 3, "reviews": 1}
    assert rows(engine, "SELECT id FROM reviews") == {(21,)}


def test_a_composite_edge_named_with_one_column_is_refused(url: str, tmp_path: Path) -> None:
    engine = engine_for(url)
    extra = 'on_delete = { "reviews.account_id" = "cascade" }'
    with _lethe(url, tmp_path, extra) as lethe, pytest.raises(LiveCheckError) as raised:
        lethe.run()
    assert "wrong number of columns: 1; its foreign keys: reviews.account_id,project_num" in str(
        raised.value
    )
    assert rows(engine, "SELECT id FROM accounts") == {(1,), (2,), (3,)}
