"""The therapy app's account tables, to try the account-deletion policy: ``python app.py URL``.

``profiles`` are keyed by UUID (Supabase auth users). Clinical notes and therapist-patient
links refer to a profile in two roles (patient and therapist).
"""

from __future__ import annotations

import sys
import uuid
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
    Uuid,
    create_engine,
    insert,
)
from sqlalchemy.engine import Engine

metadata = MetaData()


def _user_fk(name: str) -> Column[uuid.UUID]:
    return Column(name, Uuid, ForeignKey("profiles.id"), index=True)


profiles = Table(
    "profiles",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("deletion_scheduled_at", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
)
check_ins = Table(
    "check_ins",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk("user_id"),
    Column("mood", Integer),
)
crisis_plan = Table(
    "crisis_plan",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk("user_id"),
    Column("plan", Text),
)
clinical_notes = Table(
    "clinical_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk("patient_id"),
    _user_fk("therapist_id"),
    Column("note", Text),
)
therapist_patients = Table(
    "therapist_patients",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk("patient_id"),
    _user_fk("therapist_id"),
)
user_consent = Table(
    "user_consent",
    metadata,
    Column("id", Integer, primary_key=True),
    _user_fk("user_id"),
    Column("consent", String(32)),
)

# Stable ids so tests and docs can name them.
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")  # patient, deletion due: deleted
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")  # therapist, deletion due: deleted
CAROL = uuid.UUID("00000000-0000-4000-8000-0000000ca201")  # patient, deletion in 5 days: kept
DAVE = uuid.UUID("00000000-0000-4000-8000-000000000da7")  # therapist, no deletion: kept
ERIN = uuid.UUID("00000000-0000-4000-8000-0000000e0000")  # due, but already marked deleted


def seed(engine: Engine, now: datetime) -> None:
    """Create the tables and five accounts with their rows, relative to ``now``."""
    metadata.create_all(engine)
    accounts = [
        (ALICE, "patient", now - timedelta(days=1), None),
        (BOB, "therapist", now - timedelta(hours=2), None),
        (CAROL, "patient", now + timedelta(days=5), None),
        (DAVE, "therapist", None, None),
        (ERIN, "patient", now - timedelta(days=20), now - timedelta(days=19)),
    ]
    with engine.begin() as conn:
        for user_id, role, scheduled, deleted in accounts:
            conn.execute(
                insert(profiles).values(
                    id=user_id,
                    email=f"{role}-{str(user_id)[-4:]}@example.org",
                    role=role,
                    deletion_scheduled_at=scheduled,
                    deleted_at=deleted,
                )
            )
        for patient in (ALICE, CAROL, ERIN):
            conn.execute(insert(check_ins), [{"user_id": patient, "mood": m} for m in (3, 4)])
            conn.execute(insert(crisis_plan).values(user_id=patient, plan="call 988"))
            conn.execute(insert(user_consent).values(user_id=patient, consent="treatment"))
        conn.execute(insert(user_consent).values(user_id=BOB, consent="terms"))
        notes = [(ALICE, BOB), (ALICE, DAVE), (CAROL, BOB), (CAROL, DAVE)]
        conn.execute(
            insert(clinical_notes),
            [{"patient_id": p, "therapist_id": t, "note": "session"} for p, t in notes],
        )
        conn.execute(
            insert(therapist_patients), [{"patient_id": p, "therapist_id": t} for p, t in notes]
        )


if __name__ == "__main__":
    seed(
        create_engine(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///therapy.db"),
        datetime.now(UTC),
    )
