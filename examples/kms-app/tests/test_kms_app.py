"""The application's tests, against a real Mamori server from the ``mamori`` pytest plugin."""

from __future__ import annotations

import uuid

import pytest
from kms_app import create_config_key, open_config, seal_config
from Tea.exceptions import TeaException


@pytest.fixture
def alias(kms_client) -> str:
    name = f"alias/config-{uuid.uuid4().hex[:8]}"
    create_config_key(kms_client, name)
    return name


def test_config_round_trips(kms_client, alias) -> None:
    blob = seal_config(kms_client, alias, {"db": "postgres://db"}, "production")
    assert open_config(kms_client, blob, "production") == {"db": "postgres://db"}


def test_a_blob_of_one_environment_does_not_open_in_another(kms_client, alias) -> None:
    blob = seal_config(kms_client, alias, {"db": "postgres://db"}, "staging")
    with pytest.raises(TeaException) as refused:
        open_config(kms_client, blob, "production")
    # KMS answers a wrong context as it answers a damaged blob.
    assert refused.value.code == "InvalidParameter"
    assert "CiphertextBlob" in refused.value.message


def test_the_server_is_a_real_one(mamori_server, mamori_credentials) -> None:
    assert mamori_credentials.endpoint == mamori_server.endpoint
    assert mamori_credentials.credentials_file.stat().st_mode & 0o077 == 0
