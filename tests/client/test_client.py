"""Mamori's own client against a real server: signing, parameters, errors, TLS."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig

import mamori.client
from mamori.client import AsyncClient, Client, MamoriError
from mamori.client._base import RAM, STS
from tests.conftest import FirstBytes, ServerProcess, own_address


def test_public_names_are_pinned() -> None:
    assert (
        mamori.client.__all__
        == sorted(mamori.client.__all__)
        == [
            "AsyncClient",
            "AsyncInstanceClient",
            "Client",
            "ClientKeyError",
            "Credential",
            "CredentialSource",
            "InstanceClient",
            "MamoriError",
            "Retry",
            "client_key_password",
            "load_client_key",
        ]
    )


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


def test_the_async_client_with_an_access_key(server: ServerProcess) -> None:
    async def run() -> dict[str, Any]:
        async with AsyncClient(
            server.endpoint, server.access_key_id, server.access_key_secret
        ) as client:
            return await client.call("DescribeRegions")

    assert asyncio.run(run())["Regions"]["Region"][0]["RegionId"] == "cn-hangzhou"


def test_the_async_client_with_sts_credentials_from_the_official_chain(
    server: ServerProcess,
) -> None:
    """An STS token is sent as ``x-acs-security-token`` and signed; the credentials come from
    ``alibabacloud-credentials`` (the interface ``CredentialSource`` names)."""
    role = f"client-{uuid.uuid4().hex[:8]}"
    account = "1234567890123456"
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"RAM": [f"acs:ram::{account}:root"]},
                }
            ],
        }
    )
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as admin:
        admin.call("CreateRole", RAM, RoleName=role, AssumeRolePolicyDocument=trust)
        assumed = admin.call(
            "AssumeRole",
            STS,
            RoleArn=f"acs:ram::{account}:role/{role}",
            RoleSessionName="async",
        )["Credentials"]
    source = CredentialClient(
        CredentialConfig(
            type="sts",
            access_key_id=assumed["AccessKeyId"],
            access_key_secret=assumed["AccessKeySecret"],
            security_token=assumed["SecurityToken"],
        )
    )

    async def run() -> None:
        async with AsyncClient(server.endpoint, credentials=source) as client:
            with pytest.raises(MamoriError) as caught:
                await client.call("DescribeRegions")
            # Authenticated as the role session, which holds no permission.
            assert (caught.value.code, caught.value.status) == ("Forbidden.NoPermission", 403)

    asyncio.run(run())
    with (
        Client(
            server.endpoint,
            assumed["AccessKeyId"],
            assumed["AccessKeySecret"],
            security_token=assumed["SecurityToken"] + "x",
        ) as client,
        pytest.raises(MamoriError) as caught,
    ):
        client.call("DescribeRegions")
    assert caught.value.code.startswith("InvalidSecurityToken")


def test_without_a_protocol_it_speaks_https_to_any_host_but_loopback(server: ServerProcess) -> None:
    # On loopback, plain HTTP by default still works (the server's own machine).
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as local:
        assert "Keys" in local.call("ListKeys")
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    listener = FirstBytes(address)
    try:
        remote = Client(f"{address}:{listener.port}", "LTAIcapture", "secret", timeout=3)
        with remote, pytest.raises(httpx.TransportError):
            remote.call("ListKeys")
    finally:
        listener.close()
    # A TLS ClientHello (record type 0x16), never a plain request carrying the AccessKey id.
    assert listener.received and all(b.startswith(b"\x16\x03") for b in listener.received)
    assert not any(b"LTAIcapture" in b for b in listener.received)
