"""KMS instances: the instances table, each account's default instance, and the instance of
every key and secret

Revision ID: 0009
Revises: 0008

Every account that exists gets its default instance here (later accounts get theirs when the
server first needs it, ``core/instances.py``), and every existing key and secret is placed in it.
Before this revision ``DKMSInstanceId`` was stored as given and named no instance, so a key
created with one is moved to the default instance too: an instance id that names nothing is
not kept. The figures below are the default instance's (``core/instances.py`` keeps the same
ones for new accounts); they are copied, not imported, so this revision never changes.
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_DEFAULT = {
    "name": "default",
    "spec": 1000,
    "key_quota": 100_000,
    "secret_quota": 100_000,
    "vpc_quota": 5,
    "status": "Connected",
    "vpc_id": "",
    "vswitch_ids": "[]",
    "zone_ids": "[]",
    "km_provider": "",
    "bind_vpcs": "[]",
}


def upgrade() -> None:
    instances = op.create_table(
        "kms_instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.Integer(), nullable=False),
        sa.Column("key_quota", sa.Integer(), nullable=False),
        sa.Column("secret_quota", sa.Integer(), nullable=False),
        sa.Column("vpc_quota", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vpc_id", sa.String(length=64), nullable=False),
        sa.Column("vswitch_ids", sa.Text(), nullable=False),
        sa.Column("zone_ids", sa.Text(), nullable=False),
        sa.Column("km_provider", sa.String(length=32), nullable=False),
        sa.Column("bind_vpcs", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kms_instances_account", "kms_instances", ["account_id", "created_at"])
    defaults = op.create_table(
        "kms_default_instances",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["kms_instances.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(
            sa.Column("dkms_instance_id", sa.String(length=32), nullable=False, server_default="")
        )
        batch.create_index("ix_secrets_instance", ["dkms_instance_id"])
    op.create_index("ix_keys_instance", "keys", ["dkms_instance_id"])

    conn = op.get_bind()
    accounts = sa.table("accounts", sa.column("id", sa.String))
    keys = sa.table("keys", sa.column("account_id", sa.String), sa.column("dkms_instance_id"))
    secret_rows = sa.table(
        "secrets", sa.column("account_id", sa.String), sa.column("dkms_instance_id")
    )
    now = int(time.time())
    for (account_id,) in conn.execute(sa.select(accounts.c.id)).all():
        instance_id = "kst-" + "".join(secrets.choice(_ALPHABET) for _ in range(21))
        conn.execute(
            instances.insert().values(
                id=instance_id, account_id=account_id, created_at=now, **_DEFAULT
            )
        )
        conn.execute(defaults.insert().values(account_id=account_id, instance_id=instance_id))
        for table in (keys, secret_rows):
            conn.execute(
                table.update()
                .where(table.c.account_id == account_id)
                .values(dkms_instance_id=instance_id)
            )


def downgrade() -> None:
    op.drop_index("ix_keys_instance", table_name="keys")
    with op.batch_alter_table("secrets") as batch:
        batch.drop_index("ix_secrets_instance")
        batch.drop_column("dkms_instance_id")
    op.drop_table("kms_default_instances")
    op.drop_index("ix_kms_instances_account", table_name="kms_instances")
    op.drop_table("kms_instances")
