"""Every table Mamori stores. Times are integer epoch seconds (UTC) so SQLite and PostgreSQL agree.

Secrets never appear here in the clear: key material and AccessKey secrets are keyring-wrapped
blobs (``LargeBinary``), bound to their row's identity as AAD.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

keyring = Table(
    "keyring",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_dek", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kms_status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("principal", String(128), nullable=False),
    Column("wrapped_secret", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

keys = Table(
    "keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("spec", String(32), nullable=False),
    Column("usage", String(32), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("protection_level", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("creator", String(128), nullable=False),
    Column("dkms_instance_id", String(64), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("delete_at", BigInteger),
    Column("deletion_protection", Boolean, nullable=False, default=False),
    Column("deletion_protection_description", Text, nullable=False, default=""),
    Column("rotation_enabled", Boolean, nullable=False, default=False),
    Column("rotation_interval", BigInteger),
    Column("last_rotation_at", BigInteger),
    Column("next_rotation_at", BigInteger),
    Column("primary_version_id", String(36)),
    Index("ix_keys_account", "account_id", "created_at"),
    Index("ix_keys_delete_at", "delete_at"),
    Index("ix_keys_next_rotation_at", "next_rotation_at"),
)

key_versions = Table(
    "key_versions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_id", String(64), ForeignKey("keys.id", ondelete="CASCADE"), nullable=False),
    Column("wrapped_material", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_key_versions_key", "key_id", "created_at"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("key_id", String(64), ForeignKey("keys.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_aliases_key", "key_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("resource_type", String(16), primary_key=True),
    Column("resource_id", String(255), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(128), nullable=False),
    Index("ix_tags_account", "account_id", "resource_type"),
)
