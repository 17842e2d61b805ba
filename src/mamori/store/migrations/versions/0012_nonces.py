"""nonces: the replay guard shared by every node (UNLOGGED on PostgreSQL)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "nonces",
        sa.Column("fingerprint", sa.LargeBinary(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("nonces")
