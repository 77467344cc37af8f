"""Ledger format 2: one entry per append sealing its events (a Merkle root chained entry to
entry); events carry their format version and entry. Events already stored stay format 1
(chained event by event) and verify as before; the first entry follows the last of them.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lethe_entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("v", sa.Integer, nullable=False),
        sa.Column("first_seq", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    # Plain ADD COLUMNs with a constant default: no table rewrite on SQLite or PostgreSQL, so
    # a ledger of millions of events migrates at once.
    with op.batch_alter_table("lethe_events") as batch:
        batch.add_column(sa.Column("v", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("entry", sa.Integer))
    with op.batch_alter_table("lethe_chain") as batch:
        batch.add_column(sa.Column("entry", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("lethe_chain") as batch:
        batch.drop_column("entry")
    with op.batch_alter_table("lethe_events") as batch:
        batch.drop_column("entry")
        batch.drop_column("v")
    op.drop_table("lethe_entries")
