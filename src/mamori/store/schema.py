"""Every table Mamori stores. Times are integer epoch seconds (UTC) so SQLite and PostgreSQL agree.

Secrets never appear here in the clear: key material and AccessKey secrets are keyring-wrapped
blobs (``LargeBinary``), bound to their row's identity as AAD.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

# The newest migration (store/migrations/versions): the revision these tables are. A new
# migration moves it (a test compares it with Alembic's head).
REVISION = "0014"

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
    # Imported (EXTERNAL) keys: when the material expires (null: never), and a check value of
    # the first material imported (HMAC keyed by the material), so that only the same
    # material can be imported again, even after DeleteKeyMaterial.
    Column("material_expire_at", BigInteger),
    Column("material_check", String(64)),
    Index("ix_keys_account", "account_id", "created_at"),
    Index("ix_keys_instance", "dkms_instance_id"),
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
    # True: the version's blobs are sealed with AAD = version id ‖ context (crypto/blob.py), so
    # a blob whose header names another version never opens. False only for versions made
    # before migration 0008, whose blobs bind the context alone.
    Column("bound_aad", Boolean, nullable=False, server_default=false()),
    Index("ix_key_versions_key", "key_id", "created_at"),
)

# GetParametersForImport's wrapping keys: one per call, bound to one key, valid 24 hours. The
# token itself is never stored, only its SHA-256; the private key is keyring-wrapped.
import_tokens = Table(
    "import_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", String(64), ForeignKey("keys.id", ondelete="CASCADE"), nullable=False),
    Column("wrapping_spec", String(16), nullable=False),
    Column("wrapping_algorithm", String(32), nullable=False),
    Column("wrapped_private_key", LargeBinary, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_import_tokens_key", "key_id"),
    Index("ix_import_tokens_expires_at", "expires_at"),
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

# -- RAM identities (API 2015-05-01). Names are unique per account; ids are Alibaba-style numbers.

ram_users = Table(
    "ram_users",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False, default=""),
    Column("email", String(128), nullable=False, default=""),
    Column("mobile_phone", String(32), nullable=False, default=""),
    Column("comments", String(128), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

ram_groups = Table(
    "ram_groups",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("group_id", String(32), nullable=False, unique=True),
    Column("comments", String(128), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

ram_group_members = Table(
    "ram_group_members",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("group_name", String(64), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Column("joined_at", BigInteger, nullable=False),
    Index("ix_ram_group_members_user", "account_id", "user_name"),
)

ram_roles = Table(
    "ram_roles",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("description", String(1024), nullable=False, default=""),
    Column("assume_role_policy", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

ram_policies = Table(
    "ram_policies",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("description", String(1024), nullable=False, default=""),
    Column("default_version", String(16), nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

ram_policy_versions = Table(
    "ram_policy_versions",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

ram_attachments = Table(
    "ram_attachments",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("policy_type", String(16), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("principal_type", String(16), primary_key=True),
    Column("principal_name", String(64), primary_key=True),
    Column("attached_at", BigInteger, nullable=False),
    Index("ix_ram_attachments_principal", "account_id", "principal_type", "principal_name"),
)

key_policies = Table(
    "key_policies",
    metadata,
    Column("key_id", String(64), ForeignKey("keys.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("document", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# -- STS: the keys that sign security tokens (keyring-wrapped, bound to their version).

sts_signing_keys = Table(
    "sts_signing_keys",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# -- Secrets Manager. Values are stored only as CiphertextBlobs of the secret's KMS key (bound to
# the secret name and version id as EncryptionContext); the stage table's primary key makes a
# stage name point at one version at most, so two versions can never both hold ACSCurrent.

secrets = Table(
    "secrets",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(192), primary_key=True),
    Column("secret_type", String(32), nullable=False),
    Column("description", String(1024), nullable=False, default=""),
    Column("encryption_key_id", String(64), nullable=False),
    Column("secret_data_type", String(8), nullable=False, default="text"),
    Column("extended_config", Text, nullable=True),
    Column("creator", String(128), nullable=False, default=""),
    Column("rotation_enabled", Boolean, nullable=False, default=False),
    Column("rotation_interval", BigInteger, nullable=True),
    Column("last_rotation_at", BigInteger, nullable=True),
    Column("next_rotation_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("planned_delete_at", BigInteger, nullable=True),
    # When the credentials a rotation replaced are retired (RAMCredentials: the old AccessKey
    # is deactivated after its grace period); null when nothing waits.
    Column("retire_at", BigInteger, nullable=True),
    # The KMS instance the secret counts against (migration 0009 put existing ones in the
    # account's default instance).
    Column("dkms_instance_id", String(32), nullable=False, server_default=""),
    Index("ix_secrets_instance", "dkms_instance_id"),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("secret_name", String(192), primary_key=True),
    Column("version_id", String(64), primary_key=True),
    Column("secret_data_type", String(8), nullable=False),
    Column("wrapped_value", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "secret_name"], ["secrets.account_id", "secrets.name"], ondelete="CASCADE"
    ),
)

secret_version_stages = Table(
    "secret_version_stages",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("secret_name", String(192), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("version_id", String(64), nullable=False),
    ForeignKeyConstraint(
        ["account_id", "secret_name", "version_id"],
        ["secret_versions.account_id", "secret_versions.secret_name", "secret_versions.version_id"],
        ondelete="CASCADE",
    ),
)

# The service-created key that encrypts an account's secrets when CreateSecret names none.
secret_default_keys = Table(
    "secret_default_keys",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("key_id", String(64), nullable=False),
)

# A secret's resource policies (SetSecretPolicy); removed with the secret.
secret_policies = Table(
    "secret_policies",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("secret_name", String(192), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("document", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "secret_name"], ["secrets.account_id", "secrets.name"], ondelete="CASCADE"
    ),
)

# -- KMS instances. A key (keys.dkms_instance_id) and a secret (secrets.dkms_instance_id) belong
# to one; its spec (QPS) and quotas are enforced (core/instances.py). VPC fields are recorded as
# the API sets them: Mamori has no VPCs, network access is an AAP's network rules.

kms_instances = Table(
    "kms_instances",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("spec", Integer, nullable=False),
    Column("key_quota", Integer, nullable=False),
    Column("secret_quota", Integer, nullable=False),
    Column("vpc_quota", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("vpc_id", String(64), nullable=False, default=""),
    # JSON arrays, as ConnectKmsInstance / UpdateKmsInstanceBindVpc set them.
    Column("vswitch_ids", Text, nullable=False, default="[]"),
    Column("zone_ids", Text, nullable=False, default="[]"),
    Column("km_provider", String(32), nullable=False, default=""),
    Column("bind_vpcs", Text, nullable=False, default="[]"),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_kms_instances_account", "account_id", "created_at"),
)

# The account's default instance (where a key or secret goes when no DKMSInstanceId is given);
# the primary key makes two nodes' first starts agree on one.
kms_default_instances = Table(
    "kms_default_instances",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("instance_id", String(32), ForeignKey("kms_instances.id"), nullable=False),
)

# Application access points (AAPs) of the dedicated gateway: network rules, the policies that
# name them, the AAPs that name policies, and the AAPs' client keys. Names are unique per
# account. A rule named by a policy, or a policy named by an AAP, cannot be deleted (RESTRICT);
# an AAP's client keys go with it (CASCADE). Client keys keep only the certificate (the public
# half and its validity): the private key and its password are never stored.
aap_network_rules = Table(
    "aap_network_rules",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("sources", Text, nullable=False),  # JSON array of IPs and CIDR blocks
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

aap_policies = Table(
    "aap_policies",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("kms_instance", String(64), nullable=False),
    Column("permissions", Text, nullable=False),  # JSON array of RBAC templates
    Column("resources", Text, nullable=False),  # JSON array of key/…, alias/…, secret/…
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

aap_policy_rules = Table(
    "aap_policy_rules",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("policy_name", String(64), primary_key=True),
    Column("rule_name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "policy_name"],
        ["aap_policies.account_id", "aap_policies.name"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["account_id", "rule_name"],
        ["aap_network_rules.account_id", "aap_network_rules.name"],
        ondelete="RESTRICT",
    ),
    Index("ix_aap_policy_rules_rule", "account_id", "rule_name"),
)

aap_access_points = Table(
    "aap_access_points",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("authentication_method", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

aap_access_point_policies = Table(
    "aap_access_point_policies",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("aap_name", String(64), primary_key=True),
    Column("policy_name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "aap_name"],
        ["aap_access_points.account_id", "aap_access_points.name"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["account_id", "policy_name"],
        ["aap_policies.account_id", "aap_policies.name"],
        ondelete="RESTRICT",
    ),
    Index("ix_aap_access_point_policies_policy", "account_id", "policy_name"),
)

aap_client_keys = Table(
    "aap_client_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(32), nullable=False),
    Column("aap_name", String(64), nullable=False),
    Column("certificate", LargeBinary, nullable=False),  # DER: public key and validity only
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "aap_name"],
        ["aap_access_points.account_id", "aap_access_points.name"],
        ondelete="CASCADE",
    ),
    Index("ix_aap_client_keys_aap", "account_id", "aap_name"),
)

# CreateCertificate's key pairs and what UploadCertificate adds. The private key is
# keyring-wrapped with AAD ``certificate/<id>``; the public key (SubjectPublicKeyInfo DER), the
# CSR and the certificate are public. The certificate's facts (serial, issuer, validity) are
# read from its DER when described, so they cannot disagree with it.
certificates = Table(
    "certificates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
    Column("spec", String(16), nullable=False),
    Column("protection_level", String(16), nullable=False),
    Column("exportable", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("names", Text, nullable=False),  # JSON array of the requested DNS names
    Column("csr", Text, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("wrapped_private_key", LargeBinary, nullable=False),
    Column("certificate", LargeBinary),  # DER, once uploaded
    Column("chain", Text),  # PEM, issuer first
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_certificates_account", "account_id", "created_at"),
)

# Managed data keys: a named, versioned data key kept encrypted under a KMS key (the blob
# Encrypt makes), so that reading it needs that key Enabled and usable by the caller.
managed_data_keys = Table(
    "managed_data_keys",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

managed_data_key_versions = Table(
    "managed_data_key_versions",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("sequence", Integer, nullable=False),  # 1 for the first version, then 2, 3, …
    Column("ciphertext", Text, nullable=False),  # the data key sealed by the KMS key
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "name"],
        ["managed_data_keys.account_id", "managed_data_keys.name"],
        ondelete="CASCADE",
    ),
    Index("ix_managed_data_key_versions_order", "account_id", "name", "sequence", unique=True),
)

# The replay guard across nodes (store/nonce_log.py): a fingerprint of (AccessKeyId, nonce) per
# accepted request, until its request could no longer be fresh. Nothing in it is secret, and
# losing it in a PostgreSQL crash loses only replays of requests made before the crash, so on
# PostgreSQL the table is UNLOGGED (no WAL, several times the insert rate; migration 0012). On
# SQLite (one node) it stays empty: the node's shared memory is the whole guard.
nonces = Table(
    "nonces",
    metadata,
    Column("fingerprint", LargeBinary(16), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

# Console sessions (gateway/console/stored_sessions.py), here so that every worker process and
# node sees the same ones. Keyed by the SHA-256 of the cookie's value: the value itself, which
# authenticates a browser, is stored nowhere; the CSRF token is derived from it, not stored.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("access_key_id", String(64), nullable=False),
    Column("principal_arn", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_console_sessions_key", "access_key_id", "created_at"),
)

# The deployment's audit key (audit/key.py): one 256-bit HMAC key that every node and worker
# signs its audit records with, kept only keyring-wrapped (AAD ``mamori/audit-key``). One row
# (``id`` 1); ``created_at`` is when keyed records began, so ``mamori audit verify`` knows that a
# record without a MAC dated after it was stripped of its MAC, not written before keying.
audit_key = Table(
    "audit_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
