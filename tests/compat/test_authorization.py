"""Only the account's administrator is authorized for now: any other principal gets
Forbidden.NoPermission (RAM users and policies arrive later through the same hook)."""

from __future__ import annotations

import base64

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from mamori.app import open_keyring
from mamori.config import Settings
from mamori.iam.access_keys import AccessKeyService
from mamori.store.database import Database
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess


@pytest.fixture(scope="module")
def stranger(server: ServerProcess) -> Client:
    """An AccessKey issued straight into the store for a principal that is not the admin, the
    way the RAM API will issue them."""
    settings = Settings(data_dir=server.data_dir, store_url=server.store_url)
    db = Database(settings.database_url)
    try:
        keyring = open_keyring(db, settings)
        ak, secret = AccessKeyService(db, keyring, lambda: 0.0, 10).create(
            settings.account_id, "alice"
        )
    finally:
        db.close()
    return new_sdk(server.endpoint, ak, secret)


def test_a_non_admin_principal_is_denied_with_the_action_named(
    kms: Client, stranger: Client
) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    with pytest.raises(ClientException) as caught:
        stranger.encrypt(
            km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(b"x").decode())
        )
    assert (caught.value.code, caught.value.status_code) == ("Forbidden.NoPermission", 403)
    assert "kms:Encrypt" in caught.value.message
    with pytest.raises(ClientException) as caught:
        stranger.create_key(km.CreateKeyRequest())
    assert caught.value.code == "Forbidden.NoPermission"
    assert "kms:CreateKey" in caught.value.message


def test_a_denied_dry_run_is_access_denied_error(kms: Client, stranger: Client) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    with pytest.raises(ClientException) as caught:
        stranger.encrypt(
            km.EncryptRequest(
                key_id=key_id, plaintext=base64.b64encode(b"x").decode(), dry_run="true"
            )
        )
    assert caught.value.code == "AccessDeniedError"
