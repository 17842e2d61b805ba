"""The dedicated gateway end to end: an operator sets up access with the official KMS SDK
(network rule 127.0.0.1/32 → policy → AAP → ``CreateClientKey``), and an application drives
``alibabacloud-dkms-gcs`` over HTTPS with Mamori's CA file and that client key. Every one of
the 15 calls, and every documented refusal, through the SDK itself.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.audit.helpers import find
from tests.compat.instance_helpers import generic, new_instance
from tests.compat.instance_sdks import (
    Access,
    SdkApp,
    body_bytes,
    grant,
    instance_config,
    unique,
)
from tests.conftest import ServerProcess
from tests.gateway.instance.dkms import b64, dkms_python

__all__ = ["dkms_python"]  # the fixture, imported for use here

DENIED = ("Forbidden.NoPermission", 403)
UNAUTHORIZED = ("Unauthorized", 401)


@dataclass
class World:
    """An instance holding keys and secrets, and a client key allowed some of them."""

    instance: str
    keys: dict[str, str]  # role -> key id
    secret: str
    other_secret: str
    access: Access


def _key(kms: Client, instance: str, spec: str = "Aliyun_AES_256", usage: str = "") -> str:
    request = km.CreateKeyRequest(key_spec=spec, dkmsinstance_id=instance)
    if usage:
        request.key_usage = usage
    return str(kms.create_key(request).body.key_metadata.key_id)


def _secret(kms: Client, instance: str, value: str) -> str:
    name = unique("secret")
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name, secret_data=value, version_id="v1", dkmsinstance_id=instance
        )
    )
    return name


@pytest.fixture(scope="module")
def world(server: ServerProcess, kms: Client) -> World:
    instance = new_instance(generic(server), Spec=100_000)
    keys = {
        "aes": _key(kms, instance),
        "sm4": _key(kms, instance, "Aliyun_SM4"),
        "rsa_enc": _key(kms, instance, "RSA_2048", "ENCRYPT/DECRYPT"),
        "sm2_enc": _key(kms, instance, "EC_SM2", "ENCRYPT/DECRYPT"),
        "rsa_sign": _key(kms, instance, "RSA_2048", "SIGN/VERIFY"),
        "ec_sign": _key(kms, instance, "EC_P256", "SIGN/VERIFY"),
        "outside": _key(kms, instance),
    }
    secret = _secret(kms, instance, "s3cr3t-value")
    other = _secret(kms, instance, "not-yours")
    resources = [f"key/{k}" for role, k in keys.items() if role != "outside"]
    access = grant(kms, instance, [*resources, f"secret/{secret}"])
    return World(instance, keys, secret, other, access)


def _app(python: Path, server: ServerProcess, access: Access, **setup: Any) -> SdkApp:
    return SdkApp(python, {"kind": "dkms", "instance": instance_config(server, access), **setup})


@pytest.fixture(scope="module")
def app(dkms_python: Path, server: ServerProcess, world: World) -> Iterator[SdkApp]:
    """The application: one dkms-gcs client with the world's client key."""
    with _app(dkms_python, server, world.access) as running:
        yield running


# -- the 15 calls ---------------------------------------------------------------------------

SYMMETRIC = [
    ("aes", "AES_GCM", ""),
    ("aes", "AES_CBC", "PKCS7_PADDING"),
    ("aes", "AES_CBC", "NO_PADDING"),
    ("aes", "AES_ECB", "PKCS7_PADDING"),
    ("aes", "AES_ECB", "NO_PADDING"),
    ("sm4", "SM4_GCM", ""),
    ("sm4", "SM4_CBC", "PKCS7_PADDING"),
    ("sm4", "SM4_ECB", "NO_PADDING"),
]


@pytest.mark.parametrize(("role", "algorithm", "padding_mode"), SYMMETRIC)
def test_encrypt_and_decrypt_with_every_symmetric_algorithm(
    app: SdkApp, world: World, role: str, algorithm: str, padding_mode: str
) -> None:
    key_id = world.keys[role]
    plaintext = b"sixteen byte msg" * 4  # whole blocks, so NO_PADDING applies too
    args: dict[str, Any] = {"key_id": key_id, "plaintext": b64(plaintext), "algorithm": algorithm}
    if padding_mode:
        args["padding_mode"] = padding_mode
    if algorithm.endswith("_GCM"):
        args["aad"] = b64(b"context")
    if algorithm.endswith("_CBC"):
        args["iv"] = b64(b"\x07" * 16)
    sealed = app.ok(
        "encrypt",
        "EncryptRequest",
        args=args,
        bytes_args=[k for k in ("plaintext", "aad", "iv") if k in args],
        runtime={"response_headers": ["x-kms-migrationkeyversionid"]},
    )
    assert sealed["KeyId"] == key_id and sealed["Algorithm"] == algorithm
    assert len(sealed["responseHeaders"]["x-kms-migrationkeyversionid"]) == 36
    back: dict[str, Any] = {
        "key_id": key_id,
        "ciphertext_blob": sealed["CiphertextBlob"]["b64"],
        "algorithm": algorithm,
    }
    for name, field in (("aad", "aad"), ("padding_mode", "padding_mode")):
        if name in args:
            back[field] = args[name]
    if "Iv" in sealed:
        back["iv"] = sealed["Iv"]["b64"]
    opened = app.ok(
        "decrypt",
        "DecryptRequest",
        args=back,
        bytes_args=[k for k in ("ciphertext_blob", "aad", "iv") if k in back],
    )
    assert body_bytes(opened["Plaintext"]) == plaintext


@pytest.mark.parametrize(
    ("role", "algorithm"),
    [("rsa_enc", "RSAES_OAEP_SHA_256"), ("rsa_enc", "RSAES_OAEP_SHA_1"), ("sm2_enc", "SM2PKE")],
)
def test_encrypt_and_decrypt_with_asymmetric_keys(
    app: SdkApp, world: World, role: str, algorithm: str
) -> None:
    key_id = world.keys[role]
    args = {"key_id": key_id, "plaintext": b64(b"asymmetric"), "algorithm": algorithm}
    sealed = app.ok("encrypt", "EncryptRequest", args=args, bytes_args=["plaintext"])
    opened = app.ok(
        "decrypt",
        "DecryptRequest",
        args={
            "key_id": key_id,
            "ciphertext_blob": sealed["CiphertextBlob"]["b64"],
            "algorithm": algorithm,
        },
        bytes_args=["ciphertext_blob"],
    )
    assert body_bytes(opened["Plaintext"]) == b"asymmetric"


def test_advance_encrypt_and_decrypt_without_a_key_id(app: SdkApp, world: World) -> None:
    key_id = world.keys["aes"]
    sealed = app.ok(
        "advance_encrypt",
        "AdvanceEncryptRequest",
        args={"key_id": key_id, "plaintext": b64(b"advance"), "aad": b64(b"ctx")},
        bytes_args=["plaintext", "aad"],
    )
    blob = body_bytes(sealed["CiphertextBlob"])
    assert blob[:3] == b"$\x00\x02" and blob[3:39].decode() == sealed["KeyVersionId"]
    opened = app.ok(
        "advance_decrypt",
        "AdvanceDecryptRequest",
        args={"ciphertext_blob": b64(blob), "aad": b64(b"ctx"), "iv": sealed["Iv"]["b64"]},
        bytes_args=["ciphertext_blob", "aad", "iv"],
    )
    assert body_bytes(opened["Plaintext"]) == b"advance"
    assert opened["KeyId"] == key_id and opened["KeyVersionId"] == sealed["KeyVersionId"]


@pytest.mark.parametrize("advance", [False, True])
def test_generate_data_key_decrypts_to_its_plaintext(
    app: SdkApp, world: World, advance: bool
) -> None:
    key_id = world.keys["aes"]
    prefix = "advance_" if advance else ""
    model = "AdvanceGenerateDataKeyRequest" if advance else "GenerateDataKeyRequest"
    made = app.ok(
        f"{prefix}generate_data_key",
        model,
        args={"key_id": key_id, "number_of_bytes": 32, "aad": b64(b"dk")},
        bytes_args=["aad"],
    )
    plaintext = body_bytes(made["Plaintext"])
    assert len(plaintext) == 32
    back = {
        "ciphertext_blob": made["CiphertextBlob"]["b64"],
        "aad": b64(b"dk"),
        "iv": made["Iv"]["b64"],
    }
    if advance:
        opened = app.ok(
            "advance_decrypt",
            "AdvanceDecryptRequest",
            args=back,
            bytes_args=["ciphertext_blob", "aad", "iv"],
        )
    else:
        opened = app.ok(
            "decrypt",
            "DecryptRequest",
            args={**back, "key_id": key_id},
            bytes_args=["ciphertext_blob", "aad", "iv"],
        )
    assert body_bytes(opened["Plaintext"]) == plaintext


PAIRS = [
    ("generate_data_key_pair", "GenerateDataKeyPairRequest", True, False),
    (
        "generate_data_key_pair_without_plaintext",
        "GenerateDataKeyPairWithoutPlaintextRequest",
        False,
        False,
    ),
    ("advance_generate_data_key_pair", "AdvanceGenerateDataKeyPairRequest", True, True),
    (
        "advance_generate_data_key_pair_without_plaintext",
        "AdvanceGenerateDataKeyPairWithoutPlaintextRequest",
        False,
        True,
    ),
]


@pytest.mark.parametrize(("method", "model", "with_plaintext", "advance"), PAIRS)
def test_generate_data_key_pair_seals_the_private_key(
    app: SdkApp, world: World, method: str, model: str, with_plaintext: bool, advance: bool
) -> None:
    key_id = world.keys["aes"]
    made = app.ok(
        method,
        model,
        args={"key_id": key_id, "key_pair_spec": "EC_P256", "key_format": "PEM", "aad": b64(b"p")},
        bytes_args=["aad"],
    )
    public = serialization.load_pem_public_key(body_bytes(made["PublicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    back = {
        "ciphertext_blob": made["PrivateKeyCiphertextBlob"]["b64"],
        "aad": b64(b"p"),
        "iv": made["Iv"]["b64"],
    }
    if advance:
        assert made["KeyVersionId"]
        opened = app.ok(
            "advance_decrypt",
            "AdvanceDecryptRequest",
            args=back,
            bytes_args=["ciphertext_blob", "aad", "iv"],
        )
    else:
        opened = app.ok(
            "decrypt",
            "DecryptRequest",
            args={**back, "key_id": key_id},
            bytes_args=["ciphertext_blob", "aad", "iv"],
        )
    private = serialization.load_pem_private_key(body_bytes(opened["Plaintext"]), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()
    if with_plaintext:
        assert body_bytes(made["PrivateKeyPlaintext"]) == body_bytes(opened["Plaintext"])
    else:
        assert "PrivateKeyPlaintext" not in made


@pytest.mark.parametrize(
    ("role", "algorithm"),
    [
        ("rsa_sign", "RSA_PSS_SHA_256"),
        ("rsa_sign", "RSA_PKCS1_SHA_256"),
        ("ec_sign", "ECDSA_SHA_256"),
    ],
)
@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_sign_verify_and_the_public_key_agree(
    app: SdkApp, world: World, role: str, algorithm: str, message_type: str
) -> None:
    key_id = world.keys[role]
    message = b"signed by the instance"
    sent = message if message_type == "RAW" else hashlib.sha256(message).digest()
    signed = app.ok(
        "sign",
        "SignRequest",
        args={
            "key_id": key_id,
            "algorithm": algorithm,
            "message": b64(sent),
            "message_type": message_type,
        },
        bytes_args=["message"],
    )
    signature = body_bytes(signed["Signature"])
    verified = app.ok(
        "verify",
        "VerifyRequest",
        args={
            "key_id": key_id,
            "algorithm": algorithm,
            "message": b64(sent),
            "message_type": message_type,
            "signature": b64(signature),
        },
        bytes_args=["message", "signature"],
    )
    assert verified["Value"] is True
    pem = app.ok("get_public_key", "GetPublicKeyRequest", args={"key_id": key_id})["PublicKey"]
    public = serialization.load_pem_public_key(pem.encode())
    # The public key the SDK got checks the signature independently of Mamori.
    if isinstance(public, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            if algorithm == "RSA_PSS_SHA_256"
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    tampered = app.ok(
        "verify",
        "VerifyRequest",
        args={
            "key_id": key_id,
            "algorithm": algorithm,
            "message": b64(sent),
            "message_type": message_type,
            "signature": b64(signature[:-1] + bytes([signature[-1] ^ 1])),
        },
        bytes_args=["message", "signature"],
    )
    assert tampered.get("Value", False) is False


def test_generate_random(app: SdkApp) -> None:
    made = app.ok("generate_random", "GenerateRandomRequest", args={"length": 48})
    assert len(body_bytes(made["Random"])) == 48


def test_get_secret_value(app: SdkApp, world: World) -> None:
    got = app.ok(
        "get_secret_value",
        "GetSecretValueRequest",
        args={"secret_name": world.secret, "fetch_extended_config": True},
    )
    assert (got["SecretName"], got["SecretData"], got["VersionId"]) == (
        world.secret,
        "s3cr3t-value",
        "v1",
    )
    assert got["VersionStages"] == ["ACSCurrent"]


# -- refusals -------------------------------------------------------------------------------

INVALID_PARAM = ("InvalidParam", 400)


def _encrypt(app: SdkApp, key_id: str, **spec: Any) -> dict[str, Any]:
    return app.call(
        "encrypt",
        "EncryptRequest",
        args={"key_id": key_id, "plaintext": b64(b"x")},
        bytes_args=["plaintext"],
        **spec,
    )


def _refused(answer: dict[str, Any], code: str, status: int) -> dict[str, Any]:
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    assert (error["code"], error["data"]["httpCode"]) == (code, status), error
    return error


def test_a_signature_made_with_another_key_is_refused(
    dkms_python: Path, server: ServerProcess, world: World
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = other.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    config = {
        "endpoint": server.tls_endpoint,
        "protocol": "https",
        "ca_file": str(server.ca_file),
        # The SDK's own documented alternative to a ClientKeyContent: the id and a private key.
        "access_key_id": world.access.client_key_id,
        "private_key": base64.b64encode(der).decode(),
    }
    with SdkApp(dkms_python, {"kind": "dkms", "instance": config}) as other_app:
        error = _refused(_encrypt(other_app, world.keys["aes"]), *INVALID_PARAM)
    assert error["message"] == "The Param Authorization is invalid."


def test_a_header_changed_after_signing_is_refused(
    dkms_python: Path, server: ServerProcess, world: World
) -> None:
    with _app(dkms_python, server, world.access, tamper_date=True) as tampered:
        error = _refused(_encrypt(tampered, world.keys["aes"]), *INVALID_PARAM)
    assert error["message"] == "The Param Authorization is invalid."


def test_a_date_outside_the_window_is_refused(
    dkms_python: Path, server: ServerProcess, world: World
) -> None:
    with _app(dkms_python, server, world.access, date_offset=-16 * 60) as late:
        error = _refused(_encrypt(late, world.keys["aes"]), *INVALID_PARAM)
    assert error["message"] == "The Param Date is invalid."


def test_an_unknown_client_key_is_unauthorized(
    dkms_python: Path, server: ServerProcess, world: World
) -> None:
    from datetime import UTC, datetime, timedelta

    from mamori.crypto.client_key import issue_client_key, new_key_id

    now = datetime.now(UTC)
    issued = issue_client_key(new_key_id(), "Unknown-key-1", now, now + timedelta(days=1))
    stranger = Access("", "", "", "", issued.content, "Unknown-key-1")
    with _app(dkms_python, server, stranger) as app:
        _refused(_encrypt(app, world.keys["aes"]), *UNAUTHORIZED)


def test_a_key_outside_the_policy_is_forbidden(app: SdkApp, world: World) -> None:
    _refused(_encrypt(app, world.keys["outside"]), *DENIED)


def test_a_secret_outside_the_policy_is_forbidden(app: SdkApp, world: World) -> None:
    answer = app.call(
        "get_secret_value", "GetSecretValueRequest", args={"secret_name": world.other_secret}
    )
    _refused(answer, *DENIED)


def test_generate_random_needs_the_key_user_template(
    dkms_python: Path, server: ServerProcess, kms: Client, world: World
) -> None:
    from tests.compat.instance_sdks import SECRET_USER

    readers = grant(kms, world.instance, [f"secret/{world.secret}"], permissions=(SECRET_USER,))
    with _app(dkms_python, server, readers) as reader:
        answer = reader.call("generate_random", "GenerateRandomRequest", args={"length": 8})
        _refused(answer, *DENIED)
        _refused(_encrypt(reader, world.keys["aes"]), *DENIED)
        got = reader.ok(
            "get_secret_value", "GetSecretValueRequest", args={"secret_name": world.secret}
        )
    assert got["SecretData"] == "s3cr3t-value"


def test_a_peer_outside_the_network_rule_is_forbidden(
    dkms_python: Path, server: ServerProcess, world: World
) -> None:
    # The same client key from 127.0.0.2: the rule admits 127.0.0.1/32 only (the SDK's HTTP
    # layer, urllib3, binds the source address).
    with _app(dkms_python, server, world.access, source_address="127.0.0.2") as outside:
        _refused(_encrypt(outside, world.keys["aes"]), *DENIED)
        answer = outside.call("generate_random", "GenerateRandomRequest", args={"length": 8})
        _refused(answer, *DENIED)


def test_management_actions_are_not_reachable_with_a_client_key(app: SdkApp) -> None:
    for action in ("CreateKey", "CreateClientKey", "DeleteKey", "ListKeys"):
        answer = app.call("do_request", "", args={"api_name": action})
        error = _refused(answer, "InvalidApiName", 400)
        assert error["message"] == f'The ApiName "{action}" is invalid.'


def test_an_instance_over_its_qps_is_throttled(
    dkms_python: Path, server: ServerProcess, kms: Client
) -> None:
    instance = new_instance(generic(server), Spec=1)
    key_id = _key(kms, instance)
    access = grant(kms, instance, [f"key/{key_id}"])
    with _app(dkms_python, server, access) as app:
        answers = [_encrypt(app, key_id) for _ in range(4)]
        assert "response" in answers[0], answers[0]
        throttled = [a for a in answers[1:] if "error" in a]
        assert throttled, "a 1 QPS instance served four requests at once"
        for answer in throttled:
            error = _refused(answer, "Rejected.Throttling", 429)
        # The SDK retries this code after a second (its default), and is then served.
        assert "response" in _encrypt(app, key_id, runtime={"autoretry": True})
    assert error["message"]


# -- changes hold from the next request -----------------------------------------------------


@pytest.fixture
def own(
    dkms_python: Path, server: ServerProcess, kms: Client, world: World
) -> Iterator[tuple[SdkApp, Access]]:
    """An application with access of its own, which a test may take away."""
    access = grant(kms, world.instance, [f"key/{world.keys['aes']}"])
    with _app(dkms_python, server, access) as app:
        assert "response" in _encrypt(app, world.keys["aes"])
        yield app, access


def test_detaching_the_policy_holds_from_the_next_request(
    own: tuple[SdkApp, Access], kms: Client, world: World
) -> None:
    app, access = own
    from tests.compat.instance_sdks import SECRET_USER

    other = grant(kms, world.instance, ["secret/*"], permissions=(SECRET_USER,))
    kms.update_application_access_point(
        km.UpdateApplicationAccessPointRequest(name=access.aap, policies=f'["{other.policy}"]')
    )
    _refused(_encrypt(app, world.keys["aes"]), *DENIED)


def test_narrowing_the_rule_holds_from_the_next_request(
    own: tuple[SdkApp, Access], kms: Client, world: World
) -> None:
    app, access = own
    kms.update_network_rule(
        km.UpdateNetworkRuleRequest(name=access.rule, source_private_ip='["10.0.0.0/8"]')
    )
    _refused(_encrypt(app, world.keys["aes"]), *DENIED)
    kms.update_network_rule(
        km.UpdateNetworkRuleRequest(name=access.rule, source_private_ip='["127.0.0.0/8"]')
    )
    assert "response" in _encrypt(app, world.keys["aes"])


def test_deleting_the_client_key_holds_from_the_next_request(
    own: tuple[SdkApp, Access], kms: Client, world: World
) -> None:
    app, access = own
    kms.delete_client_key(km.DeleteClientKeyRequest(client_key_id=access.client_key_id))
    _refused(_encrypt(app, world.keys["aes"]), *UNAUTHORIZED)


# -- the audit log ---------------------------------------------------------------------------


def test_calls_and_refusals_are_audited_with_the_client_key(
    app: SdkApp, world: World, server: ServerProcess
) -> None:
    sealed = app.ok(
        "encrypt",
        "EncryptRequest",
        args={"key_id": world.keys["sm4"], "plaintext": b64(b"audited")},
        bytes_args=["plaintext"],
    )
    _refused(_encrypt(app, world.keys["outside"]), *DENIED)
    by_key = ("--principal", world.access.client_key_id)
    done = find(server.data_dir, *by_key, "--key", world.keys["sm4"], "--action", "Encrypt")
    assert done, "no record of the dedicated gateway's Encrypt"
    record = done[-1]
    assert record["request_id"] == sealed["RequestId"]
    assert (record["gateway"], record["tls"], record["result"]) == ("instance", True, "Success")
    assert record["principal"] == f"aap/{world.access.aap}"
    assert record["key_version_id"]
    refused = find(server.data_dir, *by_key, "--key", world.keys["outside"])
    assert refused and refused[-1]["result"] == "Forbidden.NoPermission"
    raw = b"".join(p.read_bytes() for p in (server.data_dir / "audit").rglob("*.jsonl"))
    assert b"audited" not in raw and b64(b"audited").encode() not in raw
