"""Mamori's own client against a real server: signing, parameters, errors, TLS."""

from __future__ import annotations

import base64

import pytest

import mamori.client
from mamori.client import Client, MamoriError
from tests.conftest import ServerProcess


def test_public_names_are_pinned() -> None:
    assert mamori.client.__all__ == sorted(mamori.client.__all__) == ["Client", "MamoriError"]


def test_calls_actions_with_awkward_parameter_values(server: ServerProcess) -> None:
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        description = "spaces + plus / slash ~ tilde * star ü and 日本"
        key = client.call("CreateKey", Description=description)["KeyMetadata"]
        assert key["Description"] == description
        sealed = client.call(
            "Encrypt",
            KeyId=key["KeyId"],
            Plaintext=base64.b64encode(b"client").decode(),
            EncryptionContext='{"a":"b=c &d e"}',
        )
        opened = client.call(
            "Decrypt", CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext='{"a":"b=c &d e"}'
        )
        assert base64.b64decode(opened["Plaintext"]) == b"client"


def test_errors_carry_code_status_and_request_id(server: ServerProcess) -> None:
    with (
        Client(server.endpoint, server.access_key_id, server.access_key_secret) as client,
        pytest.raises(MamoriError) as caught,
    ):
        client.call("DescribeKey", KeyId="key-missing")
    assert (caught.value.code, caught.value.status) == ("Forbidden.KeyNotFound", 404)
    assert caught.value.request_id
    with (
        Client(server.endpoint, server.access_key_id, "wrong-secret") as client,
        pytest.raises(MamoriError) as caught,
    ):
        client.call("DescribeRegions")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_https_with_the_server_ca(server: ServerProcess) -> None:
    with Client(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        ca_file=server.ca_file,
    ) as client:
        assert client.call("DescribeRegions")["Regions"]["Region"][0]["RegionId"] == "cn-hangzhou"
