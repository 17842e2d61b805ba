"""key material import: import tokens, material expiry and check value

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("material_expire_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("material_check", sa.String(length=64), nullable=True))
    op.create_table(
        "import_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapping_spec", sa.String(length=16), nullable=False),
        sa.Column("wrapping_algorithm", sa.String(length=32), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_import_tokens_key", "import_tokens", ["key_id"])
    op.create_index("ix_import_tokens_expires_at", "import_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_import_tokens_expires_at", table_name="import_tokens")
    op.drop_index("ix_import_tokens_key", table_name="import_tokens")
    op.drop_table("import_tokens")
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("material_check")
        batch.drop_column("material_expire_at")
