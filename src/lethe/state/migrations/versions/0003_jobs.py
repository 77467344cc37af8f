"""Jobs: the slot ledger, per-job state, and run leases (heartbeat, expiry).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lethe_slots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("slot_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("covers", sa.Integer, nullable=False),
        sa.Column("covers_from", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("fence", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(32)),
        sa.Column("owner", sa.String(256)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("job", "slot_utc", name="uq_lethe_slots_job_slot"),
    )
    op.create_index("ix_lethe_slots_job_status", "lethe_slots", ["job", "status"])
    op.create_index("ix_lethe_slots_run", "lethe_slots", ["run_id"])
    op.create_table(
        "lethe_jobs",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
        sa.Column("changed_by", sa.String(256)),
    )
    with op.batch_alter_table("lethe_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("lethe_runs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("heartbeat_at")
    op.drop_table("lethe_jobs")
    op.drop_table("lethe_slots")
