"""Validibot's housekeeping tables (Django on Cloud Run): ``python app.py URL``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

sessions = Table(
    "django_session",
    metadata,
    Column("session_key", String(40), primary_key=True),
    Column("session_data", Text, nullable=False),
    Column("expire_date", DateTime(timezone=True), nullable=False, index=True),
)
idempotency_keys = Table(
    "api_idempotencykey",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("response_body", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
callback_receipts = Table(
    "validations_callbackreceipt",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)
submissions = Table(
    "submissions_submission",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("content", Text),
    Column("content_purged_at", DateTime(timezone=True)),
    Column("retain_until", DateTime(timezone=True), nullable=False),
)
runs = Table(
    "validations_validationrun",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)


def seed(engine: Engine, now: datetime) -> None:
    """Rows on both sides of every retention boundary, relative to ``now``."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(sessions),
            [
                {
                    "session_key": f"s{i}",
                    "session_data": "{}",
                    "expire_date": now + timedelta(hours=h),
                }
                for i, h in enumerate((-48, -1, 1, 240))  # 2 expired, 2 live
            ],
        )
        conn.execute(
            insert(idempotency_keys),
            [
                {
                    "id": i,
                    "key": f"k{i}",
                    "response_body": "{}",
                    "created_at": now - timedelta(hours=h),
                }
                for i, h in enumerate((30, 25, 23, 1), start=1)  # older than 24 h: 1, 2
            ],
        )
        conn.execute(
            insert(callback_receipts),
            [
                {"id": i, "payload": "{}", "received_at": now - timedelta(days=d)}
                for i, d in enumerate((45, 31, 29, 2), start=1)  # older than 30 days: 1, 2
            ],
        )
        conn.execute(
            insert(submissions),
            [
                {"id": 1, "content": "<xml/>", "retain_until": now - timedelta(days=1)},  # redacted
                {"id": 2, "content": "<xml/>", "retain_until": now + timedelta(days=6)},  # kept
                {
                    "id": 3,
                    "content": None,
                    "content_purged_at": now - timedelta(days=9),
                    "retain_until": now - timedelta(days=10),
                },  # done
            ],
        )
        conn.execute(
            insert(runs),
            [
                {"id": 1, "status": "RUNNING", "started_at": now - timedelta(minutes=95)},  # stuck
                {"id": 2, "status": "RUNNING", "started_at": now - timedelta(minutes=31)},  # stuck
                {
                    "id": 3,
                    "status": "RUNNING",
                    "started_at": now - timedelta(minutes=10),
                },  # running
                {
                    "id": 4,
                    "status": "SUCCEEDED",
                    "started_at": now - timedelta(hours=5),
                    "finished_at": now - timedelta(hours=4),
                },
            ],
        )


if __name__ == "__main__":
    seed(
        create_engine(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///validibot.db"),
        datetime.now(UTC),
    )
