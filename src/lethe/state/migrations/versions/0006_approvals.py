"""Approvals: the exact plan of a run the circuit breaker refused, pending until approved.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lethe_approvals",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("refusal", sa.Text, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(256)),
        sa.Column("approved_reason", sa.Text),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("used_by", sa.String(64)),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_lethe_approvals_status", "lethe_approvals", ["status"])


def downgrade() -> None:
    op.drop_index("ix_lethe_approvals_status", "lethe_approvals")
    op.drop_table("lethe_approvals")
