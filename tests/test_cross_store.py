"""One policy over a SQL row and what it points to: its uploaded file (S3, moto) and its job
key (Redis). Linked items go first, the row last; a row whose file could not be deleted is
kept; orphans are reported both ways and deleted only when the dataset says so."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert

from lethe import Lethe, RunStatus
from tests.support.apps import OPEN_ENGINES, keys
from tests.support.backends import RedisBackend, S3Backend

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
OLD, YOUNG = NOW - timedelta(days=40), NOW - timedelta(days=1)

POLICY = """
[stores.app]
url = "{db}"
[stores.files]
url = "{s3}"
[stores.redis]
url = "{redis}"

[datasets.submissions]
store = "app"
table = "submissions"
key = "id"
age_column = "created_at"
retain = "30d"
links = [
  {{ dataset = "uploads", column = "upload_path" }},
  {{ dataset = "jobs", column = "job_id", prefix = "job:" }},
]
orphans = "delete"

[datasets.uploads]          # an orphan file is deleted only once this old
store = "files"
prefixes = ["uploads/"]
age_column = "metadata.created-at"
retain = "7d"

[datasets.jobs]
store = "redis"
pattern = "job:*"
age_column = "createdAt"
retain = "7d"

[policies.submissions]
dataset = "submissions"
[[policies.submissions.actions]]
type = "purge"
"""


def _submissions(url: str) -> tuple[Table, object]:
    table = Table(
        "submissions",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("created_at", DateTime(timezone=True)),
        Column("upload_path", String(200)),
        Column("job_id", Integer),
    )
    engine = create_engine(url)
    OPEN_ENGINES.append(engine)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"id": 1, "created_at": OLD, "upload_path": "uploads/s1.csv", "job_id": 1},
                {"id": 2, "created_at": OLD, "upload_path": "uploads/s2.csv", "job_id": 2},
                {"id": 3, "created_at": YOUNG, "upload_path": "uploads/s3.csv", "job_id": 3},
                {"id": 4, "created_at": OLD, "upload_path": "uploads/s4.csv", "job_id": None},
            ],
        )
    return table, engine


def test_a_row_goes_with_its_file_and_job_and_orphans_are_reported_both_ways(
    s3_env: dict[str, str], s3_endpoint: str, redis_url: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    table, engine = _submissions(db)
    files, jobs = S3Backend(s3_endpoint), RedisBackend(redis_url)
    # s2.csv is already gone: row 2 is an orphan row. lost.csv and job:99 belong to no row.
    files.seed({f"uploads/{n}.csv": OLD for n in ("s1", "s3", "s4", "lost")})
    files.seed({"uploads/fresh.csv": YOUNG})
    jobs.seed({"job:1": OLD, "job:2": OLD, "job:3": OLD, "job:99": OLD})
    policy = POLICY.format(db=db, s3=files.url, redis=redis_url)
    files.deny_delete(["uploads/s4.csv"])
    with Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ)) as lethe:
        (uploads, job_keys) = lethe.orphans()
        assert (uploads.rows_without_item, uploads.row_examples) == (1, ["2"])
        assert uploads.item_examples == ["uploads/fresh.csv", "uploads/lost.csv"]
        assert (job_keys.rows_without_item, job_keys.item_examples) == (0, ["job:99"])

        result = lethe.run(as_of=NOW)
        # Row 4's file could not be deleted: the row stays, reported, for the next run.
        assert result.status is RunStatus.DEGRADED and result.phases[0].failed == 1
        assert "uploads/s4.csv" in result.errors[0]
        assert keys(engine, table) == {3, 4}
        assert files.keys() == {
            "uploads/s3.csv",
            "uploads/s4.csv",
            "uploads/lost.csv",
            "uploads/fresh.csv",
        }
        assert jobs.keys() == {"job:3", "job:99"}
        events = {
            e["item_key"]: e
            for e in lethe.runtime.ledger.iter_events()
            if e["event"] == "hard_deleted"
        }
        assert events["1"]["details"]["linked"] == {"uploads": "uploads/s1.csv", "jobs": "job:1"}

        files.allow_delete()
        assert lethe.run(as_of=NOW).ok and keys(engine, table) == {3}

        # Orphans are only reported ...
        assert files.keys() >= {"uploads/lost.csv", "uploads/fresh.csv"}
        # ... until asked to delete them: only those old enough by their own dataset's rule.
        (uploads, job_keys) = lethe.orphans(delete=True, as_of=NOW)
        assert (uploads.deleted, uploads.item_examples) == (1, ["uploads/fresh.csv"])
        assert files.keys() == {"uploads/s3.csv", "uploads/fresh.csv"}
        assert job_keys.deleted == 1 and jobs.keys() == {"job:3"}
        deleted = [
            e["item_key"]
            for e in lethe.runtime.ledger.iter_events()
            if e["event"] == "orphan_deleted"
        ]
        assert sorted(deleted) == ["job:99", "uploads/lost.csv"]
        assert lethe.verify_audit().ok


def test_an_orphan_that_could_not_be_deleted_is_recorded_skipped_error(
    s3_env: dict[str, str], s3_endpoint: str, redis_url: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    _submissions(db)
    files, jobs = S3Backend(s3_endpoint), RedisBackend(redis_url)
    files.seed({f"uploads/{n}.csv": OLD for n in ("s1", "s2", "s3", "s4", "lost")})
    jobs.seed({"job:1": OLD, "job:2": OLD, "job:3": OLD})
    files.deny_delete(["uploads/lost.csv"])
    policy = POLICY.format(db=db, s3=files.url, redis=redis_url)
    with Lethe.from_toml(policy, base_dir=tmp_path, env=dict(os.environ)) as lethe:
        (uploads, _jobs) = lethe.orphans(delete=True, as_of=NOW)
        assert (uploads.deleted, uploads.failed) == (0, 1)
        [event] = [
            e for e in lethe.runtime.ledger.iter_events() if e["item_key"] == "uploads/lost.csv"
        ]
        # The engine's one word for an item it tried and could not act on.
        assert event["event"] == "skipped_error"
        assert "uploads/lost.csv" in event["details"]["error"], event
        assert event["details"]["linked_from"] == "submissions"
        assert lethe.verify_audit().ok
