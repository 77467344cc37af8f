"""CheckTick's tables: Census's survey tables plus ``surveys_surveyprogress``.

``python app.py URL`` creates them with sample rows. Progress records cover the three kinds the
cleanup handles (anonymous by session key, authenticated by user, token-based), stale and fresh,
complete and incomplete.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    create_engine,
    insert,
)
from sqlalchemy.engine import Engine

# CheckTick is Census's successor: the survey tables are the same.
_spec = importlib.util.spec_from_file_location(
    "census_app", Path(__file__).parent.parent / "census" / "app.py"
)
assert _spec and _spec.loader
census = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(census)

metadata = census.metadata
progress = Table(
    "surveys_surveyprogress",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", ForeignKey("surveys_survey.id"), nullable=False, index=True),
    Column("user_id", ForeignKey("auth_user.id"), index=True),
    Column("session_key", String(40)),
    Column("access_token", String(64)),
    Column("is_complete", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# id: (user, session key, token, complete, days since last update)
PROGRESS = {
    1: (None, "anon-1", None, False, 45),  # anonymous, stale: deleted
    2: (1, None, None, False, 31),  # authenticated, stale: deleted
    3: (None, None, "tok-3", False, 60),  # token-based, stale: deleted
    4: (2, None, None, False, 5),  # in progress: kept
    5: (None, "anon-5", None, True, 90),  # complete: kept
    6: (None, None, "tok-6", False, 29),  # 29 days: kept
}


def seed(engine: Engine, now: datetime) -> None:
    """Census's surveys plus the progress records above, relative to ``now``."""
    census.seed(engine, now)
    with engine.begin() as conn:
        for row_id, (user, session, token, complete, days) in PROGRESS.items():
            conn.execute(
                insert(progress).values(
                    id=row_id,
                    survey_id=6,
                    user_id=user,
                    session_key=session,
                    access_token=token,
                    is_complete=complete,
                    updated_at=now - timedelta(days=days),
                )
            )


if __name__ == "__main__":
    seed(
        create_engine(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///checktick.db"),
        datetime.now(UTC),
    )
