"""Initial state tables: runs, hash-chained events, chain head, holds, batch intents.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lethe_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON),
    )
    op.create_table(
        "lethe_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("policy", sa.String(128)),
        sa.Column("dataset", sa.String(128)),
        sa.Column("phase", sa.Integer),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("item_key", sa.Text),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_lethe_events_item", "lethe_events", ["dataset", "item_key"])
    op.create_index("ix_lethe_events_run", "lethe_events", ["run_id"])
    op.create_table(
        "lethe_chain",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.execute("INSERT INTO lethe_chain (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")
    op.create_table(
        "lethe_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("item_key", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_by", sa.String(256), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column("released_by", sa.String(256)),
        sa.Column("release_reason", sa.Text),
    )
    op.create_index("ix_lethe_holds_active", "lethe_holds", ["dataset", "item_key", "released_at"])
    op.create_table(
        "lethe_batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("phase", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_lethe_batches_status", "lethe_batches", ["status"])


def downgrade() -> None:
    for table in ("lethe_batches", "lethe_holds", "lethe_chain", "lethe_events", "lethe_runs"):
        op.drop_table(table)
