"""certificates and managed data keys

Revision ID: 0011
Revises: 0010

A certificate's private key is keyring-wrapped (AAD ``certificate/<id>``); a managed data
key's versions are blobs sealed by a KMS key. Nothing here is material in the clear.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.String(length=16), nullable=False),
        sa.Column("protection_level", sa.String(length=16), nullable=False),
        sa.Column("exportable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=True),
        sa.Column("chain", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certificates_account", "certificates", ["account_id", "created_at"])
    op.create_table(
        "managed_data_keys",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )
    op.create_table(
        "managed_data_key_versions",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version_id", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "name"],
            ["managed_data_keys.account_id", "managed_data_keys.name"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "name", "version_id"),
    )
    op.create_index(
        "ix_managed_data_key_versions_order",
        "managed_data_key_versions",
        ["account_id", "name", "sequence"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_managed_data_key_versions_order", table_name="managed_data_key_versions")
    op.drop_table("managed_data_key_versions")
    op.drop_table("managed_data_keys")
    op.drop_index("ix_certificates_account", table_name="certificates")
    op.drop_table("certificates")
