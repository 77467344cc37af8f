"""Census's survey tables (Django names), to try the policy: ``python app.py URL``.

Seeds surveys around ``now``: past their deletion date, soft-deleted 35 days ago, under an
active legal hold, and not yet due.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
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

users = Table(
    "auth_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
)
surveys = Table(
    "surveys_survey",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", ForeignKey("auth_user.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("retention_months", Integer, nullable=False),
    Column("deletion_date", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
)
responses = Table(
    "surveys_surveyresponse",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", ForeignKey("surveys_survey.id"), nullable=False, index=True),
    Column("answers", Text),
)
legal_holds = Table(
    "surveys_legalhold",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "survey_id",
        ForeignKey("surveys_survey.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("reason", Text, nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True)),
)

# id: (days until deletion date, days since soft delete or None, legal hold state)
SURVEYS = {
    1: (-3, None, None),  # due today: soft-deleted by this run
    2: (-45, 35, None),  # soft-deleted 35 days ago: hard-deleted with its responses
    3: (-10, None, "active"),  # under legal hold: skipped
    4: (-60, 40, "active"),  # soft-deleted, then held: skipped too
    5: (-40, 10, None),  # soft-deleted 10 days ago: still in its grace period
    6: (20, None, None),  # not due yet
    7: (-90, 50, "released"),  # hold released: hard-deleted
}


def seed(engine: Engine, now: datetime) -> None:
    """Create the tables and the surveys above, relative to ``now``."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(users), [{"id": i, "email": f"owner{i}@example.org"} for i in (1, 2)])
        response_id = 0
        for survey_id, (due_in, deleted_ago, hold) in SURVEYS.items():
            conn.execute(
                insert(surveys).values(
                    id=survey_id,
                    owner_id=1 + survey_id % 2,
                    name=f"Survey {survey_id}",
                    retention_months=12,
                    deletion_date=now + timedelta(days=due_in),
                    deleted_at=now - timedelta(days=deleted_ago) if deleted_ago else None,
                )
            )
            for _ in range(3):
                response_id += 1
                conn.execute(
                    insert(responses).values(
                        id=response_id, survey_id=survey_id, answers='{"q1": "yes"}'
                    )
                )
            if hold:
                conn.execute(
                    insert(legal_holds).values(
                        survey_id=survey_id,
                        reason="litigation",
                        placed_at=now - timedelta(days=100),
                        removed_at=now - timedelta(days=60) if hold == "released" else None,
                    )
                )


if __name__ == "__main__":
    seed(
        create_engine(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///census.db"),
        datetime.now(UTC),
    )
