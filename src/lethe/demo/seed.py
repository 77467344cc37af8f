"""The demo's application database: owners, surveys, responses, answers, holds, progress."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["SCHEMA", "create_demo_database"]

SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE users (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL
);
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    retention_months INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    deletion_date DATETIME NOT NULL,
    deleted_at DATETIME
);
CREATE TABLE responses (
    id INTEGER PRIMARY KEY,
    survey_id INTEGER NOT NULL REFERENCES surveys(id),
    submitted_at DATETIME NOT NULL
);
CREATE INDEX ix_responses_survey_id ON responses (survey_id);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    response_id INTEGER NOT NULL REFERENCES responses(id),
    question TEXT NOT NULL,
    value TEXT
);
CREATE INDEX ix_answers_response_id ON answers (response_id);
CREATE TABLE legal_holds (
    id INTEGER PRIMARY KEY,
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    placed_at DATETIME NOT NULL,
    removed_at DATETIME
);
CREATE INDEX ix_legal_holds_survey_id ON legal_holds (survey_id);
CREATE TABLE survey_progress (
    id INTEGER PRIMARY KEY,
    survey_id INTEGER NOT NULL REFERENCES surveys(id),
    user_id INTEGER REFERENCES users(id),
    session_key TEXT,
    access_token TEXT,
    is_complete BOOLEAN NOT NULL DEFAULT 0,
    updated_at DATETIME NOT NULL
);
CREATE INDEX ix_survey_progress_survey_id ON survey_progress (survey_id);
"""

# name, owner, days until deletion date (negative: past), days since soft delete or None,
# hold: None, "active" or "released"
SURVEYS = [
    ("Staff wellbeing 2023", 1, -3, None, None),
    ("Patient feedback Q1", 2, -45, 35, None),
    ("Clinical audit 2022", 3, -10, None, "active"),
    ("Course evaluation", 4, 5, None, None),
    ("Event RSVP", 5, 25, None, None),
    ("Old pilot study", 2, -70, 40, "released"),
    ("Research consent forms", 6, -40, 10, None),
    ("Volunteer sign-up", 1, 200, None, None),
]


def _ts(instant: datetime) -> str:
    # Django's SQLite convention: naive UTC text.
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_demo_database(path: Path, now: datetime) -> None:
    """(Re)create the demo database at ``path`` with data relative to ``now``."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        users = [(i, f"owner{i}@example.org", f"Owner {i}") for i in range(1, 7)]
        db.executemany("INSERT INTO users VALUES (?, ?, ?)", users)
        response_id = answer_id = 0
        for survey_id, (name, owner, due_in, deleted_ago, hold) in enumerate(SURVEYS, start=1):
            due = now + timedelta(days=due_in)
            deleted = _ts(now - timedelta(days=deleted_ago)) if deleted_ago else None
            created = due - timedelta(days=365)
            db.execute(
                "INSERT INTO surveys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (survey_id, owner, name, 12, _ts(created), _ts(due), deleted),
            )
            for _ in range(1 + survey_id % 3):
                response_id += 1
                db.execute(
                    "INSERT INTO responses VALUES (?, ?, ?)",
                    (response_id, survey_id, _ts(created + timedelta(days=3))),
                )
                for question in ("q1", "q2"):
                    answer_id += 1
                    db.execute(
                        "INSERT INTO answers VALUES (?, ?, ?, ?)",
                        (answer_id, response_id, question, "yes"),
                    )
            if hold:
                removed = _ts(now - timedelta(days=50)) if hold == "released" else None
                db.execute(
                    "INSERT INTO legal_holds (survey_id, reason, placed_at, removed_at) "
                    "VALUES (?, ?, ?, ?)",
                    (survey_id, "regulator inquiry", _ts(now - timedelta(days=90)), removed),
                )
        progress = [
            # survey, user, session, token, complete, days since last update
            (4, None, "anon-7f3a", None, 0, 45),  # anonymous, abandoned → deleted
            (4, 3, None, None, 0, 31),  # authenticated, abandoned → deleted
            (5, None, None, "tok-19c2", 0, 60),  # token-based, abandoned → deleted
            (5, 4, None, None, 0, 2),  # in progress → kept
            (8, 5, None, None, 1, 90),  # completed → kept
            (8, None, "anon-b811", None, 0, 12),  # recent → kept
        ]
        for row_id, (survey, user, session, token, complete, days) in enumerate(progress, 1):
            db.execute(
                "INSERT INTO survey_progress VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, survey, user, session, token, complete, _ts(now - timedelta(days=days))),
            )
        db.commit()
    finally:
        db.close()
