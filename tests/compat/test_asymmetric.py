"""Asymmetric keys through the official new SDK: every spec and algorithm of issue 5, with
signatures checked by ``cryptography`` and the ``openssl`` command on GetPublicKey's PEM,
outside ciphertexts decrypted by AsymmetricDecrypt, and every documented error."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from tests.compat.asym_helpers import (
    ENCRYPTION,
    SIGNING,
    create_key,
    digest_for,
    openssl_encrypt,
    openssl_verifies,
    public_pem,
)
from tests.compat.sdk import b64, expect_error

INVALID = ("InvalidParameter", 400)
UNSUPPORTED = ("Rejected.UnsupportedOperation", 400)


class Keys:
    """Keys created once per server, by (spec, usage)."""

    def __init__(self, kms: Client) -> None:
        self._kms = kms
        self._made: dict[tuple[str, str], tuple[str, str]] = {}

    def get(self, spec: str, usage: str = "SIGN/VERIFY") -> tuple[str, str]:
        if (spec, usage) not in self._made:
            self._made[spec, usage] = create_key(self._kms, spec, usage)
        return self._made[spec, usage]


@pytest.fixture(scope="module")
def keys(kms: Client) -> Keys:
    return Keys(kms)


def sign(kms: Client, key: str, version: str, algorithm: str, digest: bytes, **extra: Any) -> Any:
    return kms.asymmetric_sign(
        km.AsymmetricSignRequest(
            key_id=key, key_version_id=version, algorithm=algorithm, digest=b64(digest), **extra
        )
    ).body


def verify(kms: Client, key: str, version: str, algorithm: str, digest: bytes, sig: bytes) -> Any:
    return kms.asymmetric_verify(
        km.AsymmetricVerifyRequest(
            key_id=key,
            key_version_id=version,
            algorithm=algorithm,
            digest=b64(digest),
            value=b64(sig),
        )
    ).body


def encrypt(kms: Client, key: str, version: str, algorithm: str, data: bytes) -> Any:
    return kms.asymmetric_encrypt(
        km.AsymmetricEncryptRequest(
            key_id=key, key_version_id=version, algorithm=algorithm, plaintext=b64(data)
        )
    ).body


def decrypt(kms: Client, key: str, version: str, algorithm: str, blob: bytes | str) -> Any:
    text = blob if isinstance(blob, str) else b64(blob)
    return kms.asymmetric_decrypt(
        km.AsymmetricDecryptRequest(
            key_id=key, key_version_id=version, algorithm=algorithm, ciphertext_blob=text
        )
    ).body


def der_of(pem: str) -> bytes:
    return serialization.load_pem_public_key(pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_der(pem: str) -> bytes:
    """DER of a PEM public key, by hand, because ``cryptography`` cannot load SM2 keys."""
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def cryptography_verifies(pem: str, algorithm: str, message: bytes, signature: bytes) -> None:
    """Verify with ``cryptography`` over the message (not the digest); raises if invalid."""
    key = serialization.load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            if algorithm == "RSA_PSS_SHA_256"
            else padding.PKCS1v15()
        )
        key.verify(signature, message, pad, hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(signature, message)


# --- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "SIGN/VERIFY"),
        ("EC_P256", "SIGN/VERIFY"),
        ("EC_P256K", "SIGN/VERIFY"),
        ("EC_SM2", "SIGN/VERIFY"),
        ("EC_ED25519", "SIGN/VERIFY"),
        ("HMAC_SHA_256", "GENERATE/VERIFY_MAC"),
    ],
)
def test_a_key_gets_its_specs_default_usage(kms: Client, spec: str, usage: str) -> None:
    meta = kms.create_key(km.CreateKeyRequest(key_spec=spec)).body.key_metadata
    assert (meta.key_spec, meta.key_usage, meta.key_state) == (spec, usage, "Enabled")
    uuid.UUID(meta.primary_key_version)


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("EC_P256", "ENCRYPT/DECRYPT"),
        ("EC_P256K", "ENCRYPT/DECRYPT"),
        ("EC_ED25519", "ENCRYPT/DECRYPT"),
        ("RSA_2048", "GENERATE/VERIFY_MAC"),
        ("HMAC_SM3", "SIGN/VERIFY"),
        ("Aliyun_AES_256", "SIGN/VERIFY"),
    ],
)
def test_a_usage_the_spec_cannot_carry_is_refused(kms: Client, spec: str, usage: str) -> None:
    error = expect_error(
        *INVALID, lambda: kms.create_key(km.CreateKeyRequest(key_spec=spec, key_usage=usage))
    )
    assert "KeyUsage" in error.message


def test_asymmetric_and_hmac_keys_cannot_be_rotated(kms: Client, keys: Keys) -> None:
    key, _ = keys.get("EC_P256")
    expect_error(
        *UNSUPPORTED, lambda: kms.create_key_version(km.CreateKeyVersionRequest(key_id=key))
    )
    expect_error(
        *UNSUPPORTED,
        lambda: kms.update_rotation_policy(
            km.UpdateRotationPolicyRequest(key_id=key, enable_automatic_rotation=True)
        ),
    )
    for spec in ("RSA_2048", "HMAC_SHA_256"):
        expect_error(
            *UNSUPPORTED,
            lambda: kms.create_key(
                km.CreateKeyRequest(key_spec=spec, enable_automatic_rotation=True)  # noqa: B023
            ),
        )


# --- sign and verify ----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
def test_signatures_verify_in_mamori_cryptography_and_openssl(
    kms: Client, keys: Keys, tmp_path: Path, spec: str, algorithm: str
) -> None:
    key, version = keys.get(spec)
    pem = public_pem(kms, key, version)
    message = b"the quick brown fox " + os.urandom(8)
    digest = digest_for(spec, spki_der(pem), message)
    signed = sign(kms, key, version, algorithm, digest)
    assert (signed.key_id, signed.key_version_id) == (key, version)
    signature = base64.b64decode(signed.value)

    assert verify(kms, key, version, algorithm, digest, signature).value is True
    assert (
        verify(
            kms, key, version, algorithm, digest, signature[:-1] + bytes([signature[-1] ^ 1])
        ).value
        is False
    )
    other = digest_for(spec, spki_der(pem), b"another message")
    body = verify(kms, key, version, algorithm, other, signature)
    assert (body.value, body.key_id, body.key_version_id) == (False, key, version)

    assert openssl_verifies(tmp_path, spec, algorithm, pem, message, signature)
    assert not openssl_verifies(tmp_path, spec, algorithm, pem, b"tampered", signature)
    if spec != "EC_SM2":  # cryptography has no SM2; openssl is the independent check there
        cryptography_verifies(pem, algorithm, message, signature)


@pytest.mark.parametrize("spec", ["RSA_2048", "EC_P256", "EC_P256K"])
def test_signatures_made_outside_verify_in_mamori(kms: Client, spec: str) -> None:
    """A key pair made by ``cryptography`` cannot be imported yet, so the check is the reverse:
    a signature Mamori made verifies against its own PEM, and a signature by another key of the
    same spec over the same digest is refused."""
    key, version = create_key(kms, spec)
    digest = hashlib.sha256(b"m").digest()
    outsider: Any = (
        rsa.generate_private_key(65537, 2048)
        if spec == "RSA_2048"
        else ec.generate_private_key(ec.SECP256R1() if spec == "EC_P256" else ec.SECP256K1())
    )
    algorithm = "RSA_PKCS1_SHA_256" if spec == "RSA_2048" else "ECDSA_SHA_256"
    if spec == "RSA_2048":
        foreign = outsider.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    else:
        foreign = outsider.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    assert verify(kms, key, version, algorithm, digest, foreign).value is False


def test_pss_signatures_differ_and_both_verify(kms: Client, keys: Keys) -> None:
    key, version = keys.get("RSA_2048")
    digest = hashlib.sha256(b"salted").digest()
    one = base64.b64decode(sign(kms, key, version, "RSA_PSS_SHA_256", digest).value)
    two = base64.b64decode(sign(kms, key, version, "RSA_PSS_SHA_256", digest).value)
    assert one != two and len(one) == len(two) == 256
    for value in (one, two):
        assert verify(kms, key, version, "RSA_PSS_SHA_256", digest, value).value is True


def test_get_public_key_is_pem_of_the_right_key_type(kms: Client, keys: Keys) -> None:
    for spec, kind in (
        ("RSA_3072", rsa.RSAPublicKey),
        ("EC_P256", ec.EllipticCurvePublicKey),
        ("EC_ED25519", ed25519.Ed25519PublicKey),
    ):
        pem = public_pem(kms, *keys.get(spec))
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
        assert isinstance(serialization.load_pem_public_key(pem.encode()), kind)
    sm2_pem = public_pem(kms, *keys.get("EC_SM2"))
    # id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301
    assert bytes.fromhex("06082a811ccf5501822d") in spki_der(sm2_pem)


# --- encrypt and decrypt ------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm", "limit"), ENCRYPTION)
def test_outside_ciphertexts_decrypt_and_the_limit_holds(
    kms: Client, keys: Keys, tmp_path: Path, spec: str, algorithm: str, limit: int
) -> None:
    key, version = keys.get(spec, "ENCRYPT/DECRYPT")
    pem = public_pem(kms, key, version)
    secret = os.urandom(limit)

    by_openssl = openssl_encrypt(tmp_path, algorithm, pem, secret)
    opened = decrypt(kms, key, version, algorithm, by_openssl)
    assert base64.b64decode(opened.plaintext) == secret
    assert (opened.key_id, opened.key_version_id) == (key, version)

    if spec.startswith("RSA"):
        public = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        md = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
        blob = public.encrypt(secret, padding.OAEP(padding.MGF1(md), md, None))
        assert base64.b64decode(decrypt(kms, key, version, algorithm, blob).plaintext) == secret

    sealed = encrypt(kms, key, version, algorithm, secret)
    assert (sealed.key_id, sealed.key_version_id) == (key, version)
    assert base64.b64decode(decrypt(kms, key, version, algorithm, sealed.ciphertext_blob).plaintext)
    error = expect_error(
        *INVALID, lambda: encrypt(kms, key, version, algorithm, os.urandom(limit + 1))
    )
    assert "Plaintext" in error.message


def test_a_ciphertext_under_the_other_oaep_hash_does_not_decrypt(kms: Client, keys: Keys) -> None:
    key, version = keys.get("RSA_2048", "ENCRYPT/DECRYPT")
    blob = encrypt(kms, key, version, "RSAES_OAEP_SHA_1", b"x").ciphertext_blob
    error = expect_error(*INVALID, lambda: decrypt(kms, key, version, "RSAES_OAEP_SHA_256", blob))
    assert "CiphertextBlob" in error.message
    expect_error(*UNSUPPORTED, lambda: decrypt(kms, key, version, "SM2PKE", blob))


# --- errors -------------------------------------------------------------------------------------


def _cases(kms: Client, keys: Keys) -> dict[str, Callable[[], Any]]:
    rsa_sign, rsa_sign_v = keys.get("RSA_2048")
    rsa_enc, rsa_enc_v = keys.get("RSA_2048", "ENCRYPT/DECRYPT")
    p256, p256_v = keys.get("EC_P256")
    aes = kms.create_key(km.CreateKeyRequest()).body.key_metadata
    hmac = kms.create_key(km.CreateKeyRequest(key_spec="HMAC_SHA_256")).body.key_metadata
    digest = hashlib.sha256(b"d").digest()
    return {
        "encrypt with a signing key": lambda: encrypt(
            kms, rsa_sign, rsa_sign_v, "RSAES_OAEP_SHA_256", b"x"
        ),
        "sign with an encryption key": lambda: sign(
            kms, rsa_enc, rsa_enc_v, "RSA_PSS_SHA_256", digest
        ),
        "encrypt with an EC_P256 key": lambda: encrypt(
            kms, p256, p256_v, "RSAES_OAEP_SHA_256", b"x"
        ),
        "sign with an RSA algorithm on EC_P256": lambda: sign(
            kms, p256, p256_v, "RSA_PSS_SHA_256", digest
        ),
        "sign with SM2DSA on RSA": lambda: sign(kms, rsa_sign, rsa_sign_v, "SM2DSA", digest),
        "sign with a symmetric key": lambda: sign(
            kms, aes.key_id, aes.primary_key_version, "RSA_PSS_SHA_256", digest
        ),
        "sign with an HMAC key": lambda: sign(
            kms, hmac.key_id, hmac.primary_key_version, "RSA_PSS_SHA_256", digest
        ),
        "public key of a symmetric key": lambda: public_pem(
            kms, aes.key_id, aes.primary_key_version
        ),
        "symmetric Encrypt with an RSA key": lambda: kms.encrypt(
            km.EncryptRequest(key_id=rsa_enc, plaintext=b64(b"x"))
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "encrypt with a signing key",
        "sign with an encryption key",
        "encrypt with an EC_P256 key",
        "sign with an RSA algorithm on EC_P256",
        "sign with SM2DSA on RSA",
        "sign with a symmetric key",
        "sign with an HMAC key",
        "public key of a symmetric key",
        "symmetric Encrypt with an RSA key",
    ],
)
def test_key_usage_and_spec_rules(kms: Client, keys: Keys, case: str) -> None:
    error = expect_error(*UNSUPPORTED, _cases(kms, keys)[case])
    assert "not supported" in error.message


def test_parameter_errors(kms: Client, keys: Keys) -> None:
    key, version = keys.get("EC_P256")
    digest = hashlib.sha256(b"d").digest()
    error = expect_error(
        "MissingParameter",
        400,
        lambda: kms.asymmetric_sign(
            km.AsymmetricSignRequest(key_id=key, algorithm="ECDSA_SHA_256", digest=b64(digest))
        ),
    )
    assert "KeyVersionId" in error.message
    error = expect_error(*INVALID, lambda: sign(kms, key, version, "ECDSA_SHA_512", digest))
    assert "Algorithm" in error.message
    error = expect_error(*INVALID, lambda: sign(kms, key, version, "ECDSA_SHA_256", digest[:31]))
    assert "Digest" in error.message
    error = expect_error(
        *INVALID,
        lambda: kms.asymmetric_sign(
            km.AsymmetricSignRequest(
                key_id=key, key_version_id=version, algorithm="ECDSA_SHA_256", digest="@@@"
            )
        ),
    )
    assert "Digest" in error.message
    enc, enc_v = keys.get("EC_SM2", "ENCRYPT/DECRYPT")
    error = expect_error(*INVALID, lambda: decrypt(kms, enc, enc_v, "SM2PKE", b"\x30garbage"))
    assert "CiphertextBlob" in error.message


def test_versions_must_belong_to_the_key(kms: Client, keys: Keys) -> None:
    key, version = keys.get("EC_P256")
    other_key, other_version = keys.get("EC_P256K")
    digest = hashlib.sha256(b"d").digest()
    expect_error(
        "Forbidden.KeyVersionNotFound",
        404,
        lambda: sign(kms, key, str(uuid.uuid4()), "ECDSA_SHA_256", digest),
    )
    expect_error(
        "Forbidden.KeyVersionNotFound",
        404,
        lambda: sign(kms, key, other_version, "ECDSA_SHA_256", digest),
    )
    expect_error("Forbidden.KeyVersionNotFound", 404, lambda: public_pem(kms, other_key, version))
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: sign(kms, "key-nosuchkey000000000000", version, "ECDSA_SHA_256", digest),
    )


def test_key_states_apply(kms: Client) -> None:
    key, version = create_key(kms, "EC_P256")
    digest = hashlib.sha256(b"d").digest()
    kms.disable_key(km.DisableKeyRequest(key_id=key))
    expect_error("Rejected.Disabled", 409, lambda: sign(kms, key, version, "ECDSA_SHA_256", digest))
    expect_error("Rejected.Disabled", 409, lambda: public_pem(kms, key, version))
    kms.enable_key(km.EnableKeyRequest(key_id=key))
    kms.schedule_key_deletion(km.ScheduleKeyDeletionRequest(key_id=key, pending_window_in_days=7))
    expect_error(
        "Rejected.PendingDeletion",
        409,
        lambda: verify(kms, key, version, "ECDSA_SHA_256", digest, b"0"),
    )


def test_dry_run_checks_without_signing(kms: Client, keys: Keys) -> None:
    key, version = keys.get("EC_P256")
    digest = hashlib.sha256(b"d").digest()
    expect_error(
        "DryRunOperationError",
        400,
        lambda: sign(kms, key, version, "ECDSA_SHA_256", digest, dry_run="true"),
    )
    expect_error(
        "ValidationError",
        400,
        lambda: sign(kms, key, version, "RSA_PSS_SHA_256", digest, dry_run="true"),
    )


def test_dry_run_of_every_asymmetric_action(kms: Client, keys: Keys) -> None:
    """DryRun answers DryRunOperationError when the call would succeed and ValidationError when
    it would not, and never produces output."""
    sig_key, sig_version = keys.get("EC_P256")
    enc_key, enc_version = keys.get("RSA_2048", "ENCRYPT/DECRYPT")
    digest = hashlib.sha256(b"d").digest()
    oaep = "RSAES_OAEP_SHA_256"

    def versioned(key: str, version: str, algorithm: str, dry: str) -> dict[str, Any]:
        return {"key_id": key, "key_version_id": version, "algorithm": algorithm, "dry_run": dry}

    calls: dict[str, Callable[[str, str], Any]] = {
        "verify": lambda alg, dry: kms.asymmetric_verify(
            km.AsymmetricVerifyRequest(
                **versioned(sig_key, sig_version, alg, dry), digest=b64(digest), value=b64(b"s")
            )
        ),
        "encrypt": lambda alg, dry: kms.asymmetric_encrypt(
            km.AsymmetricEncryptRequest(
                **versioned(enc_key, enc_version, alg, dry), plaintext=b64(b"x")
            )
        ),
        "decrypt": lambda alg, dry: kms.asymmetric_decrypt(
            km.AsymmetricDecryptRequest(
                **versioned(enc_key, enc_version, alg, dry), ciphertext_blob=b64(b"x")
            )
        ),
    }
    good = {"verify": "ECDSA_SHA_256", "encrypt": oaep, "decrypt": oaep}
    for name, call in calls.items():
        expect_error("DryRunOperationError", 400, lambda: call(good[name], "true"))  # noqa: B023
        expect_error("ValidationError", 400, lambda: call("SM2PKE", "true"))  # noqa: B023
    expect_error(
        "DryRunOperationError",
        400,
        lambda: kms.get_public_key(
            km.GetPublicKeyRequest(key_id=sig_key, key_version_id=sig_version, dry_run="true")
        ),
    )
    expect_error(
        "ValidationError",
        400,
        lambda: kms.get_public_key(
            km.GetPublicKeyRequest(key_id=sig_key, key_version_id=str(uuid.uuid4()), dry_run="true")
        ),
    )
