"""The unified ``alibabacloud-kms-python-sdk`` (and ``alibabacloud-dkms-transfer-python``, the
layer the Secrets client v1 uses) against a real server: its ``Client`` sends crypto to the
instance API with a client key and management to the shared gateway with an AccessKey; its
``TransferClient`` turns KMS OpenAPI calls into instance calls, in advance and low-version
modes. Ciphertexts cross the two gateways both ways, with both AAD forms the SDKs derive from
one EncryptionContext (the hex digest of kms-python-sdk, the raw digest of dkms-transfer).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkkms.request.v20160120.AdvanceEncryptRequest import AdvanceEncryptRequest

from tests.compat.instance_helpers import generic, new_instance
from tests.compat.instance_sdks import (
    Access,
    SdkApp,
    body_bytes,
    grant,
    instance_config,
    openapi_config,
    unique,
)
from tests.compat.sdk import OldSdk
from tests.conftest import ServerProcess
from tests.gateway.instance.dkms import b64, dkms_python

__all__ = ["dkms_python"]  # the fixture, imported for use here

CONTEXT = {"tenant": "acme", "app": "billing"}
_CONTEXT_TEXT = "&".join(f"{k}={CONTEXT[k]}" for k in sorted(CONTEXT)).encode()
HEX_AAD = hashlib.sha256(_CONTEXT_TEXT).hexdigest().encode()
RAW_AAD = hashlib.sha256(_CONTEXT_TEXT).digest()


@dataclass
class World:
    instance: str
    key_id: str
    sign_key_id: str
    secret: str
    access: Access


@pytest.fixture(scope="module")
def world(server: ServerProcess, kms: Client) -> World:
    instance = new_instance(generic(server), Spec=100_000)
    key_id = kms.create_key(km.CreateKeyRequest(dkmsinstance_id=instance)).body.key_metadata.key_id
    sign = kms.create_key(
        km.CreateKeyRequest(key_spec="RSA_2048", key_usage="SIGN/VERIFY", dkmsinstance_id=instance)
    ).body.key_metadata.key_id
    secret = unique("secret")
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=secret, secret_data="unified", version_id="v1", dkmsinstance_id=instance
        )
    )
    access = grant(kms, instance, ["key/*", "secret/*"])
    return World(instance, str(key_id), str(sign), secret, access)


def _setup(server: ServerProcess, world: World, kind: str, **instance: Any) -> dict[str, Any]:
    setup: dict[str, Any] = {
        "kind": kind,
        "instance": instance_config(server, world.access, **instance),
    }
    if kind in ("kms", "transfer"):
        setup["openapi"] = openapi_config(server)
    return setup


@pytest.fixture(scope="module")
def unified(dkms_python: Path, server: ServerProcess, world: World) -> Iterator[SdkApp]:
    with SdkApp(dkms_python, _setup(server, world, "kms")) as app:
        yield app


@pytest.fixture(scope="module")
def advance(dkms_python: Path, server: ServerProcess, world: World) -> Iterator[SdkApp]:
    with SdkApp(dkms_python, _setup(server, world, "transfer")) as app:
        yield app


@pytest.fixture(scope="module")
def low(dkms_python: Path, server: ServerProcess, world: World) -> Iterator[SdkApp]:
    setup = _setup(server, world, "transfer", force_low_version_crypto_transfer=True)
    with SdkApp(dkms_python, setup) as app:
        yield app


@pytest.fixture(scope="module")
def acs(dkms_python: Path, server: ServerProcess, world: World) -> Iterator[SdkApp]:
    with SdkApp(dkms_python, _setup(server, world, "acs_transfer")) as app:
        yield app


def _kms(app: SdkApp, method: str, request: str, **args: Any) -> dict[str, Any]:
    """A KMS OpenAPI-shaped call; its response body."""
    body: dict[str, Any] = app.ok(method, request, "kms", args=args)["body"]
    return body


# -- Client: the instance for crypto, the shared gateway for management -----------------------


def test_client_routes_crypto_to_the_instance_and_management_to_the_shared_gateway(
    unified: SdkApp, world: World, kms: Client
) -> None:
    # Management with the AccessKey, on the shared gateway.
    made = _kms(unified, "create_key", "CreateKeyRequest", dkmsinstance_id=world.instance)
    key_id = made["KeyMetadata"]["KeyId"]
    assert kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_id
    # Crypto with the client key, on the instance API (the policy names key/*).
    sealed = unified.ok(
        "encrypt",
        "EncryptRequest",
        args={"key_id": key_id, "plaintext": b64(b"unified")},
        bytes_args=["plaintext"],
    )
    opened = unified.ok(
        "decrypt",
        "DecryptRequest",
        args={
            "key_id": key_id,
            "ciphertext_blob": sealed["CiphertextBlob"]["b64"],
            "iv": sealed["Iv"]["b64"],
        },
        bytes_args=["ciphertext_blob", "iv"],
    )
    assert body_bytes(opened["Plaintext"]) == b"unified"
    got = unified.ok(
        "get_secret_value", "GetSecretValueRequest", args={"secret_name": world.secret}
    )
    assert got["SecretData"] == "unified"
    shared = _kms(
        unified,
        "get_secret_value_by_shared_endpoint",
        "GetSecretValueRequest",
        secret_name=world.secret,
    )
    assert shared["SecretData"] == "unified"
    listed = _kms(unified, "list_keys", "ListKeysRequest", page_size=100)
    assert listed["TotalCount"] >= 2


# -- TransferClient: KMS OpenAPI calls served by the instance API -----------------------------


@pytest.mark.parametrize("mode", ["advance", "low"])
def test_transfer_client_serves_the_openapi_calls_through_the_instance(
    request: pytest.FixtureRequest, world: World, mode: str
) -> None:
    app: SdkApp = request.getfixturevalue(mode)
    sealed = _kms(
        app,
        "encrypt",
        "EncryptRequest",
        key_id=world.key_id,
        plaintext="transferred",
        encryption_context=CONTEXT,
    )
    opened = _kms(
        app,
        "decrypt",
        "DecryptRequest",
        ciphertext_blob=sealed["CiphertextBlob"],
        encryption_context=CONTEXT,
    )
    assert (opened["Plaintext"], opened["KeyId"]) == ("transferred", world.key_id)
    data_key = _kms(app, "generate_data_key", "GenerateDataKeyRequest", key_id=world.key_id)
    back = _kms(app, "decrypt", "DecryptRequest", ciphertext_blob=data_key["CiphertextBlob"])
    assert back["Plaintext"] == data_key["Plaintext"]
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    without = _kms(
        app,
        "generate_data_key_without_plaintext",
        "GenerateDataKeyWithoutPlaintextRequest",
        key_id=world.key_id,
    )
    assert _kms(app, "decrypt", "DecryptRequest", ciphertext_blob=without["CiphertextBlob"])
    digest = base64.b64encode(hashlib.sha256(b"signed").digest()).decode()
    signed = _kms(
        app,
        "asymmetric_sign",
        "AsymmetricSignRequest",
        key_id=world.sign_key_id,
        key_version_id="ignored-by-the-transfer",
        algorithm="RSA_PKCS1_SHA_256",
        digest=digest,
    )
    verified = _kms(
        app,
        "asymmetric_verify",
        "AsymmetricVerifyRequest",
        key_id=world.sign_key_id,
        key_version_id="ignored-by-the-transfer",
        algorithm="RSA_PKCS1_SHA_256",
        digest=digest,
        value=signed["Value"],
    )
    assert verified["Value"] is True
    public = _kms(app, "get_public_key", "GetPublicKeyRequest", key_id=world.sign_key_id)
    assert public["PublicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    secret = _kms(app, "get_secret_value", "GetSecretValueRequest", secret_name=world.secret)
    assert secret["SecretData"] == "unified"


# -- ciphertexts cross the gateways -----------------------------------------------------------


# The shared gateway carries Plaintext as base64 of the bytes; the transfer clients send a text
# Plaintext as its UTF-8 bytes and read the bytes back as text. The bytes are what cross.


def _shared_encrypt(kms: Client, key_id: str, context: dict[str, str] | None) -> str:
    request = km.EncryptRequest(key_id=key_id, plaintext=b64(b"crossing"))
    if context is not None:
        request.encryption_context = context
    return str(kms.encrypt(request).body.ciphertext_blob)


def _shared_decrypt(kms: Client, blob: str, context: dict[str, str] | None) -> bytes:
    request = km.DecryptRequest(ciphertext_blob=blob)
    if context is not None:
        request.encryption_context = context
    return base64.b64decode(str(kms.decrypt(request).body.plaintext))


def test_a_shared_encrypt_blob_decrypts_through_the_transfer_path(
    kms: Client, world: World, low: SdkApp, acs: SdkApp, advance: SdkApp
) -> None:
    # Decrypt + x-kms-migrationkeyversionid + Iv, no KeyId: with no context (kms-python-sdk's
    # low-version mode) and with one (dkms-transfer, the raw-digest AAD).
    plain = _shared_encrypt(kms, world.key_id, None)
    opened = _kms(low, "decrypt", "DecryptRequest", ciphertext_blob=plain)
    assert (opened["Plaintext"], opened["KeyId"]) == ("crossing", world.key_id)
    bound = _shared_encrypt(kms, world.key_id, CONTEXT)
    answer = acs.ok(
        "",
        "DecryptRequest",
        "acs",
        params={"CiphertextBlob": bound, "EncryptionContext": json.dumps(CONTEXT)},
    )
    assert answer["Plaintext"] == "crossing"
    # AdvanceDecrypt of the same blob re-prefixed (kms-python-sdk's advance mode, hex AAD).
    opened = _kms(
        advance,
        "decrypt",
        "DecryptRequest",
        ciphertext_blob=bound,
        encryption_context=CONTEXT,
    )
    assert opened["Plaintext"] == "crossing"
    # A wrong context opens nothing, on either path.
    wrong = json.dumps({**CONTEXT, "tenant": "other"})
    refused = acs.call(
        "", "DecryptRequest", "acs", params={"CiphertextBlob": bound, "EncryptionContext": wrong}
    )
    assert "error" in refused, refused
    assert (refused["error"]["code"], refused["error"]["data"]) == (
        "InvalidParameter",
        {"httpCode": 400},
    )


def test_instance_blobs_decrypt_on_the_shared_gateway_with_both_aad_forms(
    kms: Client, world: World, advance: SdkApp, acs: SdkApp
) -> None:
    context = json.dumps(CONTEXT)
    # kms-python-sdk: AdvanceEncrypt with the hex-digest AAD.
    hex_sealed = _kms(
        advance,
        "encrypt",
        "EncryptRequest",
        key_id=world.key_id,
        plaintext="crossing",
        encryption_context=CONTEXT,
    )
    assert _shared_decrypt(kms, hex_sealed["CiphertextBlob"], CONTEXT) == b"crossing"
    # dkms-transfer: Encrypt with the raw-digest AAD.
    raw_sealed = acs.ok(
        "",
        "EncryptRequest",
        "acs",
        params={"KeyId": world.key_id, "Plaintext": "crossing", "EncryptionContext": context},
    )
    assert _shared_decrypt(kms, raw_sealed["CiphertextBlob"], CONTEXT) == b"crossing"


@pytest.mark.parametrize("aad", [HEX_AAD, RAW_AAD], ids=["hex", "raw"])
def test_a_shared_advance_encrypt_blob_decrypts_on_both_gateways(
    server: ServerProcess, kms: Client, world: World, unified: SdkApp, aad: bytes
) -> None:
    old = OldSdk(server.endpoint, server.access_key_id, server.access_key_secret)
    request = AdvanceEncryptRequest()
    request.set_KeyId(world.key_id)
    request.set_Plaintext(b64(b"crossing"))
    request.set_Aad(b64(aad))
    sealed = old.call(request)
    raw = base64.b64decode(sealed["CiphertextBlob"])
    assert raw[:3] == b"$\x00\x02"
    # The instance API's AdvanceDecrypt, no KeyId, with the other AAD form of the same context.
    other = RAW_AAD if aad == HEX_AAD else HEX_AAD
    opened = unified.ok(
        "advance_decrypt",
        "AdvanceDecryptRequest",
        args={"ciphertext_blob": b64(raw), "aad": b64(other), "iv": b64(raw[39:51])},
        bytes_args=["ciphertext_blob", "aad", "iv"],
    )
    assert body_bytes(opened["Plaintext"]) == b"crossing"
    assert opened["KeyId"] == world.key_id
    # The shared gateway's Decrypt with the EncryptionContext.
    assert _shared_decrypt(kms, sealed["CiphertextBlob"], CONTEXT) == b"crossing"
