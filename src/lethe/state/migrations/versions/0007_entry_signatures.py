"""Ledger entry signatures: each entry's Ed25519 signature and key, and every key ever used.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lethe_entries") as batch:
        batch.add_column(sa.Column("signature", sa.Text))
        batch.add_column(sa.Column("key_id", sa.String(16)))
    op.create_table(
        "lethe_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("first_seen", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lethe_keys")
    with op.batch_alter_table("lethe_entries") as batch:
        batch.drop_column("key_id")
        batch.drop_column("signature")
