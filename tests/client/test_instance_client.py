"""Mamori's own dedicated-gateway transport against a real server's instance API: every call
the agent and the CLI need, sync and async, with a client key an operator made through the API;
its password sources, a wrong password, an untrusted server certificate, the server's error
codes, and signatures byte for byte those of the official SDK."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mamori.client import (
    AsyncInstanceClient,
    ClientKeyError,
    InstanceClient,
    MamoriError,
    Retry,
    client_key_password,
    load_client_key,
)
from mamori.client._client_key import signed_headers
from mamori.crypto.client_key import (
    LoadedClientKey,
    issue_client_key,
    load_client_key_content,
    new_key_id,
)
from mamori.wire import instance as api
from tests.conftest import ServerProcess
from tests.dedicated_access import SECRET_VALUE, Dedicated, dedicated_access, save_client_key

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "instance_signatures.json").read_text()
)
NO_PERMISSION = ("Forbidden.NoPermission", 403, "This operation is forbidden by permission system.")


@pytest.fixture(scope="module")
def world(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Dedicated:
    return dedicated_access(server, tmp_path_factory.mktemp("client-key"))


@pytest.fixture(scope="module")
def client_key(world: Dedicated) -> LoadedClientKey:
    return load_client_key(world.key_file, client_key_password(file=world.password_file))


@pytest.fixture
def kms(server: ServerProcess, client_key: LoadedClientKey) -> Iterator[InstanceClient]:
    with InstanceClient(server.tls_endpoint, client_key, ca_file=server.ca_file) as client:
        yield client


def test_every_call_the_agent_and_cli_need(kms: InstanceClient, world: Dedicated) -> None:
    assert len(kms.call(api.GENERATE_RANDOM, Length=32).Random) == 32

    sealed = kms.call(api.ENCRYPT, KeyId=world.key_id, Plaintext=b"instance", Aad=b"ctx")
    assert sealed.KeyId == world.key_id and sealed.Algorithm == "AES_GCM"
    opened = kms.call(
        api.DECRYPT, KeyId=world.key_id, CiphertextBlob=sealed.CiphertextBlob, Iv=sealed.Iv,
        Aad=b"ctx",
    )  # fmt: skip
    assert opened.Plaintext == b"instance"

    advanced = kms.call(api.ADVANCE_ENCRYPT, KeyId=world.key_id, Plaintext=b"advance")
    # A self-describing blob: no KeyId needed to open it.
    again = kms.call(api.ADVANCE_DECRYPT, CiphertextBlob=advanced.CiphertextBlob)
    assert (again.Plaintext, again.KeyVersionId) == (b"advance", advanced.KeyVersionId)

    data_key = kms.call(api.GENERATE_DATA_KEY, KeyId=world.key_id, NumberOfBytes=32)
    unwrapped = kms.call(
        api.DECRYPT, KeyId=world.key_id, CiphertextBlob=data_key.CiphertextBlob, Iv=data_key.Iv
    )
    assert len(data_key.Plaintext) == 32 and unwrapped.Plaintext == data_key.Plaintext
    advance_key = kms.call(api.ADVANCE_GENERATE_DATA_KEY, KeyId=world.key_id, NumberOfBytes=16)
    back = kms.call(api.ADVANCE_DECRYPT, CiphertextBlob=advance_key.CiphertextBlob)
    assert back.Plaintext == advance_key.Plaintext

    secret = kms.call(api.GET_SECRET_VALUE, SecretName=world.secret)
    assert (secret.SecretName, secret.SecretData, secret.VersionId) == (
        world.secret, SECRET_VALUE, "v1"
    )  # fmt: skip
    assert list(secret.VersionStages) == ["ACSCurrent"]

    message = b"signed by the dedicated gateway"
    signature = kms.call(
        api.SIGN, KeyId=world.sign_key_id, Algorithm="RSA_PKCS1_SHA_256", Message=message,
        MessageType="RAW",
    ).Signature  # fmt: skip
    verified = kms.call(
        api.VERIFY, KeyId=world.sign_key_id, Algorithm="RSA_PKCS1_SHA_256", Message=message,
        MessageType="RAW", Signature=signature,
    )  # fmt: skip
    assert verified.Value is True
    pem = kms.call(api.GET_PUBLIC_KEY, KeyId=world.sign_key_id).PublicKey
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_the_async_client(
    server: ServerProcess, client_key: LoadedClientKey, world: Dedicated
) -> None:
    async def run() -> tuple[bytes, str]:
        async with AsyncInstanceClient(
            server.tls_endpoint, client_key, ca_file=server.ca_file
        ) as kms:
            made = await kms.call(
                api.ADVANCE_GENERATE_DATA_KEY, KeyId=world.key_id, NumberOfBytes=32
            )
            opened = await kms.call(api.ADVANCE_DECRYPT, CiphertextBlob=made.CiphertextBlob)
            assert opened.Plaintext == made.Plaintext
            secret = await kms.call(api.GET_SECRET_VALUE, SecretName=world.secret)
            with pytest.raises(MamoriError) as caught:
                await kms.call(api.GET_SECRET_VALUE, SecretName=world.other_secret)
            assert (caught.value.code, caught.value.status) == NO_PERMISSION[:2]
            return made.Plaintext, secret.SecretData

    key, value = asyncio.run(run())
    assert len(key) == 32 and value == SECRET_VALUE


def test_refusals_carry_the_servers_code_status_and_request_id(
    kms: InstanceClient, world: Dedicated, server: ServerProcess
) -> None:
    for call in (
        lambda: kms.call(api.GET_SECRET_VALUE, SecretName=world.other_secret),
        lambda: kms.call(api.ENCRYPT, KeyId=world.outside_key_id, Plaintext=b"x"),
    ):
        with pytest.raises(MamoriError) as caught:
            call()
        error = caught.value
        assert (error.code, error.status, error.message) == NO_PERMISSION
        assert len(error.request_id) == 36
    with pytest.raises(MamoriError) as caught:
        kms.call(api.GENERATE_RANDOM, Length=100_000)
    assert (caught.value.code, caught.value.status) == ("InvalidParameter", 400)
    # A client key the server never issued.
    now = datetime.now(UTC)
    stranger = issue_client_key(
        new_key_id(), "Stranger-1", now - timedelta(days=1), now + timedelta(days=1)
    )
    unknown = load_client_key_content(stranger.content, "Stranger-1")
    with (
        InstanceClient(server.tls_endpoint, unknown, ca_file=server.ca_file) as other,
        pytest.raises(MamoriError) as caught,
    ):
        other.call(api.GENERATE_RANDOM, Length=8)
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        "Unauthorized", 401, "The client key is invalid, disabled or expired."
    )  # fmt: skip


def test_a_server_certificate_the_ca_file_does_not_vouch_for(
    server: ServerProcess, client_key: LoadedClientKey, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # Any other self-signed certificate serves as a CA that did not sign the server's.
    other = issue_client_key(
        new_key_id(), "Other-CA-1", now - timedelta(days=1), now + timedelta(days=1)
    )
    ca = tmp_path / "other-ca.pem"
    ca.write_bytes(other.public.certificate.public_bytes(serialization.Encoding.PEM))
    for ca_file in (ca, None):  # None: the system's roots, which know nothing of Mamori's CA
        with (
            InstanceClient(server.tls_endpoint, client_key, ca_file=ca_file) as kms,
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            kms.call(api.GENERATE_RANDOM, Length=8)


def test_a_wrong_password_or_file(world: Dedicated, tmp_path: Path) -> None:
    with pytest.raises(
        ClientKeyError, match="not a ClientKeyContent this password opens"
    ) as caught:
        load_client_key(world.key_file, "Not-the-password-1")
    assert "Not-the-password-1" not in str(caught.value)
    with pytest.raises(ClientKeyError, match="cannot read the client key file"):
        load_client_key(tmp_path / "missing.json", world.access.password)
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"KeyId": "KAAP.x", "PrivateKeyData": "bm90IGEgcGtjczEy"}')
    with pytest.raises(ClientKeyError, match="not a ClientKeyContent"):
        load_client_key(garbage, world.access.password)


def test_password_sources(world: Dedicated, tmp_path: Path) -> None:
    env = {"APP_KEY_PASSWORD": "from-env"}
    # The environment variable first (when set and not empty), then the file, stripped.
    assert (
        client_key_password(env_variable="APP_KEY_PASSWORD", file=world.password_file, environ=env)
        == "from-env"
    )
    assert (
        client_key_password(env_variable="UNSET", file=world.password_file, environ=env)
        == world.access.password
    )
    with pytest.raises(ClientKeyError, match="the environment variable UNSET is unset or empty"):
        client_key_password(env_variable="UNSET", environ=env)
    shared = tmp_path / "shared-password.txt"
    shared.write_text("p\n")
    shared.chmod(0o644)
    with pytest.raises(ClientKeyError, match="accessible to other users"):
        client_key_password(file=shared)
    empty = tmp_path / "empty.txt"
    empty.touch(mode=0o600)
    with pytest.raises(ClientKeyError, match="is empty"):
        client_key_password(file=empty)


def test_a_throttled_call_is_repeated_with_backoff(server: ServerProcess, tmp_path: Path) -> None:
    """An instance of 1 QPS: a burst is refused with the server's Rejected.Throttling when
    retries are off, and passes when the client repeats with jittered backoff."""
    slow = dedicated_access(server, tmp_path, spec=1)
    key = load_client_key(slow.key_file, slow.access.password)
    with InstanceClient(
        server.tls_endpoint, key, ca_file=server.ca_file, retry=Retry(attempts=1)
    ) as once:
        with pytest.raises(MamoriError) as caught:
            for _ in range(5):
                once.call(api.GENERATE_RANDOM, Length=8)
        assert (caught.value.code, caught.value.status) == ("Rejected.Throttling", 429)
    with InstanceClient(
        server.tls_endpoint, key, ca_file=server.ca_file, retry=Retry(attempts=8, base=0.5, cap=1.5)
    ) as patient:
        for _ in range(3):
            assert len(patient.call(api.GENERATE_RANDOM, Length=8).Random) == 8


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_signatures_are_the_official_sdks_byte_for_byte(vector: dict[str, Any]) -> None:
    """RSASSA-PKCS1-v1_5 is deterministic: the same key, date, body and headers give the very
    signature the official SDK sent (tests/vectors/instance_signatures.json)."""
    key = serialization.load_pem_private_key(VECTORS["private_key_pem"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    sent = vector["headers"]
    standard = {"x-kms-apiversion", "x-kms-apiname", "x-kms-signaturemethod", "x-kms-acccesskeyid"}
    extra = {k: v for k, v in sent.items() if k.startswith("x-kms-") and k not in standard}
    body = base64.b64decode(vector["body"])
    made = signed_headers(
        sent["host"], sent["x-kms-apiname"], body, VECTORS["client_key_id"], key, extra=extra,
        now=parsedate_to_datetime(VECTORS["date"]).timestamp(),
    )  # fmt: skip
    assert made["date"] == sent["date"]
    assert (
        made["content-sha256"] == sent["content-sha256"] == hashlib.sha256(body).hexdigest().upper()
    )
    assert made["authorization"] == sent["authorization"]


def test_a_saved_key_file_is_private(world: Dedicated, tmp_path: Path) -> None:
    key_file, password_file = save_client_key(world.access, tmp_path)
    assert key_file.stat().st_mode & 0o077 == 0 and password_file.stat().st_mode & 0o077 == 0
