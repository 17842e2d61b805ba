"""Which actions are read-only (``Action.read_only``): those alone skip the intent record
(docs/audit.md). The classification of every action is pinned here, and a spot check runs
read-only actions against a real server and finds its store unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm
from sqlalchemy import create_engine, select

from mamori.api.registry import catalogue
from mamori.store import schema as t
from tests.compat.sdk import new_sdk, ram_sdk
from tests.conftest import ServerProcess, free_port

_READ_PREFIXES = ("Describe", "List", "Get")
# Named like a read, but it writes: a wrapping key pair and its import token are stored.
_READ_NAMED_WRITES = {"GetParametersForImport"}
# Not named like a read, but its whole effect is the response (crypto with stored keys, a
# batch of reads, STS credentials that exist only in the answer).
_READ_ONLY_OTHERS = {
    "AdvanceEncrypt",
    "AssumeRole",
    "AsymmetricDecrypt",
    "AsymmetricEncrypt",
    "AsymmetricSign",
    "AsymmetricVerify",
    "BatchGetSecretValue",
    "CertificatePrivateKeyDecrypt",
    "CertificatePrivateKeySign",
    "CertificatePublicKeyEncrypt",
    "CertificatePublicKeyVerify",
    "Decrypt",
    "Encrypt",
    "ExportDataKey",
    "GenerateAndExportDataKey",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "VerifyMac",
}


def _expected_read_only(name: str) -> bool:
    if name.startswith(_READ_PREFIXES):
        return name not in _READ_NAMED_WRITES
    return name in _READ_ONLY_OTHERS


def test_every_action_is_classified_as_pinned() -> None:
    wrong = {
        f"{a.service}:{a.name}": a.read_only
        for a in catalogue().all()
        if a.read_only != _expected_read_only(a.name)
    }
    assert wrong == {}
    names = {a.name for a in catalogue().all()}
    assert names >= _READ_ONLY_OTHERS | _READ_NAMED_WRITES


def test_inline_actions_are_read_only() -> None:
    """An inline action runs on the event loop in one go: no room for an intent record."""
    assert [a.name for a in catalogue().all() if a.inline and not a.read_only] == []


def _snapshot(store_url: str) -> dict[str, list[Any]]:
    """Every table's rows, but the replay guard's nonces (each signed request adds one)."""
    engine = create_engine(store_url)
    with engine.connect() as conn:
        rows = {
            table.name: sorted(map(repr, conn.execute(select(table)).all()))
            for table in t.metadata.sorted_tables
            if table is not t.nonces
        }
    engine.dispose()
    return rows


def test_read_only_actions_leave_the_store_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(
        "sqlite", data, f"sqlite:///{data / 'mamori.db'}", free_port(), free_port()
    )
    server.start()
    try:
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        ram = ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        kms.create_secret(km.CreateSecretRequest(secret_name="s", secret_data="d", version_id="1"))
        ram.create_user(rm.CreateUserRequest(user_name="u"))
        before = _snapshot(server.store_url)

        blob = kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ==")).body
        kms.decrypt(km.DecryptRequest(ciphertext_blob=blob.ciphertext_blob))
        kms.generate_data_key(km.GenerateDataKeyRequest(key_id=key_id))
        kms.describe_key(km.DescribeKeyRequest(key_id=key_id))
        kms.list_keys(km.ListKeysRequest())
        kms.list_key_versions(km.ListKeyVersionsRequest(key_id=key_id))
        kms.get_secret_value(km.GetSecretValueRequest(secret_name="s"))
        kms.describe_secret(km.DescribeSecretRequest(secret_name="s"))
        kms.list_secrets(km.ListSecretsRequest())
        kms.get_random_password(km.GetRandomPasswordRequest())
        kms.describe_account_kms_status()
        ram.get_user(rm.GetUserRequest(user_name="u"))
        ram.list_users(rm.ListUsersRequest())
        ram.list_access_keys(rm.ListAccessKeysRequest())

        assert _snapshot(server.store_url) == before
    finally:
        server.stop()
