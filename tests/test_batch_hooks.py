"""Batch listeners (lethe.engine.hooks): told of every committed batch, never of a dry run,
and unable to break a run by failing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lethe import Lethe
from lethe.engine.hooks import CommittedBatch, add_batch_listener, remove_batch_listener

AS_OF = datetime(2024, 10, 26, tzinfo=UTC)
POLICY = """
[state]
url = "sqlite:///state.db"
[stores.app]
url = "sqlite:///app.db"
[limits]
batch_size = 3
batch_seconds = 0
[datasets.notes]
table = "notes"
key = "id"
due_column = "due"
[policies.p]
dataset = "notes"
[[policies.p.actions]]
type = "purge"
"""


@pytest.fixture
def lethe(tmp_path: Path) -> Iterator[Lethe]:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, due TEXT)"))
        for i in range(1, 9):  # 1..7 due, 8 not
            due = "2024-01-01 00:00:00" if i < 8 else "2030-01-01 00:00:00"
            conn.execute(text("INSERT INTO notes VALUES (:i, :d)"), {"i": i, "d": due})
    engine.dispose()
    with Lethe.from_toml(POLICY, base_dir=tmp_path) as instance:
        yield instance


@pytest.fixture
def seen() -> Iterator[list[CommittedBatch]]:
    batches: list[CommittedBatch] = []
    add_batch_listener(batches.append)
    add_batch_listener(batches.append)  # added twice: called once
    yield batches
    remove_batch_listener(batches.append)


def test_every_committed_batch_is_reported_once_with_its_native_keys(
    lethe: Lethe, seen: list[CommittedBatch]
) -> None:
    lethe.run(dry_run=True, as_of=AS_OF)
    assert seen == []
    lethe.holds.add("notes", "5", "kept", "test")
    result = lethe.run(as_of=AS_OF)
    # batches of three locked rows; the held 5 is locked with 4 and 6 but not acted on
    assert [b.keys for b in seen] == [(1, 2, 3), (4, 6), (7,)]
    assert {(b.policy, b.dataset, b.action, b.event, b.table) for b in seen} == {
        ("p", "notes", "purge", "hard_deleted", "notes")
    }
    assert {b.run_id for b in seen} == {result.run_id}
    assert len({b.batch_id for b in seen}) == 3


def test_a_listener_that_raises_is_logged_and_the_run_goes_on(
    lethe: Lethe, seen: list[CommittedBatch], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(batch: CommittedBatch) -> None:
        raise ValueError("no")

    add_batch_listener(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="lethe.hooks"):
            lethe.run(as_of=AS_OF)
    finally:
        remove_batch_listener(broken)
    assert sum(len(b.keys) for b in seen) == 7  # listeners after the broken one still ran
    assert len([r for r in caplog.records if "broken" in r.getMessage()]) == 3
    assert "(committed; the run goes on): ValueError: no" in caplog.records[0].getMessage()


def test_items_the_database_refused_are_not_among_the_keys(
    lethe: Lethe, seen: list[CommittedBatch], tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER keep_two BEFORE DELETE ON notes WHEN old.id = 2 "
                "BEGIN SELECT RAISE(ABORT, 'note 2 stays'); END"
            )
        )
    engine.dispose()
    lethe.run(as_of=AS_OF)
    reported = sorted(k for b in seen for k in b.keys)
    assert reported == [1, 3, 4, 5, 6, 7]  # the refused batch was bisected: 2 alone failed
    assert all(b.keys for b in seen)  # a batch that committed nothing is not reported
