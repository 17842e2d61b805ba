"""key versions: whether their blobs' AAD binds the version id

Revision ID: 0008
Revises: 0007

Versions that exist when this runs made their blobs with the EncryptionContext alone as AAD, and
keep doing so (false); every version created afterwards is inserted with true.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("key_versions") as batch:
        batch.add_column(
            sa.Column("bound_aad", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("key_versions") as batch:
        batch.drop_column("bound_aad")
