"""An item judged blocked that another item's deletion takes with it: a shortcut that lives in
folder 1 and points at folder 2 (``RESTRICT``) blocks deleting 2 alone, but deleting 1 deletes
the shortcut and 2 together. Folder 2 is then deleted, and recorded as deleted, not
``skipped_blocked``. SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for, schema_on

SCHEMA = """
CREATE TABLE folders (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    due_at {ts} NOT NULL
);
CREATE INDEX ix_folders_parent ON folders (parent_id);
CREATE TABLE shortcuts (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE RESTRICT
);
CREATE INDEX ix_shortcuts_owner ON shortcuts (owner_id);
CREATE INDEX ix_shortcuts_target ON shortcuts (target_id);
INSERT INTO folders VALUES (1, NULL, '2000-01-01 00:00:00'), (2, 1, '2000-01-01 00:00:00'),
    (3, NULL, '2000-01-01 00:00:00'), (4, NULL, '2999-01-01 00:00:00');
INSERT INTO shortcuts VALUES (10, 1, 2), (11, 4, 3)
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.folders]
table = "folders"
key = "id"
due_column = "due_at"

[policies.erase]
dataset = "folders"
actions = [{{ type = "purge" }}]
"""


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return schema_on(request.param, request, tmp_path, SCHEMA)


def _ids(engine: Engine, table: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT id FROM {table}")).scalars())


def test_a_blocked_item_another_items_deletion_takes_is_recorded_deleted(
    url: str, tmp_path: Path
) -> None:
    engine = engine_for(url)
    policy = POLICY.format(url=url)
    with Lethe.from_toml(policy, base_dir=tmp_path, clock=ManualClock(NOW)) as lethe:
        plan = lethe.plan().phases[0]
        result = lethe.run().phases[0]
        events = {(e["item_key"], e["event"]) for e in lethe.runtime.ledger.iter_events()}
    # 3 is really blocked: the shortcut from folder 4 (not due) stays.
    assert plan.blocked == {"3": "blocked by shortcuts.target_id = 3 (shortcuts key 11)"}
    assert sorted(plan.keys) == [1, 2]
    assert (result.acted, result.blocked) == (2, 1)
    assert dict(plan.cascade) == dict(result.cascade) == {"shortcuts": 1}
    assert _ids(engine, "folders") == {3, 4}
    assert _ids(engine, "shortcuts") == {11}
    assert ("2", "hard_deleted") in events and ("2", "skipped_blocked") not in events
    assert ("3", "skipped_blocked") in events
