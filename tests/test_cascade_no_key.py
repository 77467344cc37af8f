"""Child tables without a primary key are told apart by all their columns; a NULL in one of them
must still find its row (``col IN (NULL)`` never matches), or the row is neither deleted nor
updated and the parent's delete fails on the foreign key. SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe import Lethe
from lethe.testing import ManualClock
from tests.support.apps import NOW, engine_for, rows, schema_on

SCHEMA = """
CREATE TABLE folders (id INTEGER PRIMARY KEY, due_at {ts} NOT NULL);
CREATE TABLE notes (
    folder_id INTEGER NOT NULL REFERENCES folders(id),
    body VARCHAR(20)
);
CREATE INDEX ix_notes_folder ON notes (folder_id);
CREATE TABLE pins (
    folder_id INTEGER REFERENCES folders(id),
    label VARCHAR(20)
);
CREATE INDEX ix_pins_folder ON pins (folder_id);
INSERT INTO folders VALUES (1, '2000-01-01 00:00:00'), (2, '2999-01-01 00:00:00');
INSERT INTO notes VALUES (1, NULL), (1, 'x'), (2, NULL);
INSERT INTO pins VALUES (1, NULL), (2, NULL)
"""

POLICY = """
[stores.app]
url = "{url}"

[datasets.folders]
table = "folders"
key = "id"
due_column = "due_at"
on_delete = {{ "notes.folder_id" = "cascade", "pins.folder_id" = "set_null" }}

[policies.erase]
dataset = "folders"
actions = [{{ type = "purge" }}]
"""


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return schema_on(request.param, request, tmp_path, SCHEMA)


def test_rows_with_nulls_in_a_table_without_a_primary_key_are_deleted_and_updated(
    url: str, tmp_path: Path
) -> None:
    engine = engine_for(url)
    with Lethe.from_toml(
        POLICY.format(url=url), base_dir=tmp_path, clock=ManualClock(NOW)
    ) as lethe:
        plan = lethe.plan().phases[0]
        run = lethe.run()
    result = run.phases[0]
    assert run.ok, run.errors
    assert (result.acted, result.failed) == (1, 0)
    assert dict(plan.cascade) == dict(result.cascade) == {"notes": 2}
    assert dict(plan.updated) == dict(result.updated) == {"pins": 1}
    assert rows(engine, "SELECT id FROM folders") == {(2,)}
    assert rows(engine, "SELECT folder_id, body FROM notes") == {(2, None)}
    assert rows(engine, "SELECT folder_id, label FROM pins") == {(None, None), (2, None)}
