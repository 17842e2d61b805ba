"""console sessions, shared by every worker process and node

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("principal_arn", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_console_sessions_key", "console_sessions", ["access_key_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_key", table_name="console_sessions")
    op.drop_table("console_sessions")
