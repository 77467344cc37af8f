"""The file retry ledger: files that deleted rows named, until their storage deleted them.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lethe_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("item_key", sa.Text, nullable=False),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("column_name", sa.String(255), nullable=False),
        sa.Column("storage", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("tried_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_lethe_files_batch", "lethe_files", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_lethe_files_batch", "lethe_files")
    op.drop_table("lethe_files")
