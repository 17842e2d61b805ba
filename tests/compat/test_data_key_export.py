"""GenerateAndExportDataKey, ExportDataKey and ReEncrypt from an asymmetric source, through the
official new SDK; exported keys are unwrapped outside Mamori (``cryptography``, ``openssl``).
ReEncrypt needs permission on its source key as well as its destination."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.compat.asym_helpers import create_key, openssl, public_pem
from tests.compat.ram_helpers import allow, doc, grant, new_user
from tests.compat.sdk import b64, expect_error
from tests.conftest import ServerProcess

INVALID = ("InvalidParameter", 400)
CONTEXT = {"purpose": "export"}


@pytest.fixture(scope="module")
def cmk(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


@pytest.fixture(scope="module")
def outsider() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def der(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def generate_export(kms: Client, key: str, public: bytes, spec: str, alg: str, **extra: Any) -> Any:
    return kms.generate_and_export_data_key(
        km.GenerateAndExportDataKeyRequest(
            key_id=key,
            public_key_blob=b64(public),
            wrapping_key_spec=spec,
            wrapping_algorithm=alg,
            encryption_context=CONTEXT,
            **extra,
        )
    ).body


def plaintext_of(kms: Client, blob: str) -> bytes:
    body = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context=CONTEXT)).body
    return base64.b64decode(body.plaintext)


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"])
def test_rsa_export_unwraps_with_cryptography(
    kms: Client, cmk: str, outsider: rsa.RSAPrivateKey, algorithm: str
) -> None:
    body = generate_export(kms, cmk, der(outsider.public_key()), "RSA_2048", algorithm)
    assert body.key_id == cmk
    md = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
    oaep = padding.OAEP(padding.MGF1(md), md, None)
    data_key = outsider.decrypt(base64.b64decode(body.exported_data_key), oaep)
    assert len(data_key) == 32 and data_key == plaintext_of(kms, body.ciphertext_blob)

    again = kms.export_data_key(
        km.ExportDataKeyRequest(
            ciphertext_blob=body.ciphertext_blob,
            encryption_context=CONTEXT,
            public_key_blob=b64(der(outsider.public_key())),
            wrapping_key_spec="RSA_2048",
            wrapping_algorithm=algorithm,
        )
    ).body
    assert (again.key_id, again.key_version_id) == (cmk, body.key_version_id)
    assert outsider.decrypt(base64.b64decode(again.exported_data_key), oaep) == data_key


def test_sm2_export_unwraps_with_openssl_and_with_a_mamori_key(
    kms: Client, cmk: str, tmp_path: Path
) -> None:
    private = tmp_path / "sm2.pem"
    assert openssl("genpkey", "-algorithm", "SM2", "-out", str(private)).returncode == 0
    public = openssl("pkey", "-in", str(private), "-pubout", "-outform", "DER").stdout
    body = generate_export(kms, cmk, public, "EC_SM2", "SM2PKE", number_of_bytes=16)
    exported = base64.b64decode(body.exported_data_key)
    unwrapped = openssl("pkeyutl", "-decrypt", "-inkey", str(private), data=exported)
    assert unwrapped.returncode == 0, unwrapped.stderr
    assert unwrapped.stdout == plaintext_of(kms, body.ciphertext_blob)

    key, version = create_key(kms, "EC_SM2", "ENCRYPT/DECRYPT")
    pem = public_pem(kms, key, version)
    mamori_public = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    body = generate_export(kms, cmk, mamori_public, "EC_SM2", "SM2PKE")
    opened = kms.asymmetric_decrypt(
        km.AsymmetricDecryptRequest(
            key_id=key,
            key_version_id=version,
            algorithm="SM2PKE",
            ciphertext_blob=body.exported_data_key,
        )
    ).body
    assert base64.b64decode(opened.plaintext) == plaintext_of(kms, body.ciphertext_blob)


def test_export_errors(kms: Client, cmk: str, outsider: rsa.RSAPrivateKey) -> None:
    public = der(outsider.public_key())
    p256 = der(ec.generate_private_key(ec.SECP256R1()).public_key())
    # An SM2 SubjectPublicKeyInfo whose point is not on the curve.
    off_curve = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004") + bytes(
        range(1, 65)
    )
    cases = [
        ("WrappingKeySpec", public, "RSA_3072", "RSAES_OAEP_SHA_256", None),
        ("WrappingAlgorithm", public, "RSA_2048", "SM2PKE", None),
        ("PublicKeyBlob", p256, "RSA_2048", "RSAES_OAEP_SHA_256", None),
        ("PublicKeyBlob", off_curve, "EC_SM2", "SM2PKE", None),
        ("NumberOfBytes", public, "RSA_2048", "RSAES_OAEP_SHA_256", 1024),
    ]
    for name, blob, spec, algorithm, size in cases:
        error = expect_error(
            *INVALID,
            lambda: generate_export(kms, cmk, blob, spec, algorithm, number_of_bytes=size),  # noqa: B023
        )
        assert name in error.message
    expect_error(
        "MissingParameter",
        400,
        lambda: kms.generate_and_export_data_key(
            km.GenerateAndExportDataKeyRequest(
                key_id=cmk, wrapping_key_spec="RSA_2048", wrapping_algorithm="RSAES_OAEP_SHA_1"
            )
        ),
    )
    signing, _ = create_key(kms, "RSA_2048")
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: generate_export(kms, signing, public, "RSA_2048", "RSAES_OAEP_SHA_256"),
    )
    expect_error(
        "DryRunOperationError",
        400,
        lambda: generate_export(kms, cmk, public, "RSA_2048", "RSAES_OAEP_SHA_256", dry_run="true"),
    )


# --- ReEncrypt from an asymmetric source --------------------------------------------------------


def re_encrypt(kms: Client, blob: bytes | str, cmk: str, **source: Any) -> Any:
    return kms.re_encrypt(
        km.ReEncryptRequest(
            ciphertext_blob=blob if isinstance(blob, str) else b64(blob),
            destination_key_id=cmk,
            destination_encryption_context=CONTEXT,
            **source,
        )
    ).body


@pytest.mark.parametrize(
    ("spec", "algorithm"), [("RSA_2048", "RSAES_OAEP_SHA_256"), ("EC_SM2", "SM2PKE")]
)
def test_re_encrypt_from_an_asymmetric_source(
    kms: Client, cmk: str, spec: str, algorithm: str
) -> None:
    key, version = create_key(kms, spec, "ENCRYPT/DECRYPT")
    sealed = kms.asymmetric_encrypt(
        km.AsymmetricEncryptRequest(
            key_id=key, key_version_id=version, algorithm=algorithm, plaintext=b64(b"payload")
        )
    ).body.ciphertext_blob
    body = re_encrypt(
        kms,
        sealed,
        cmk,
        source_key_id=key,
        source_key_version_id=version,
        source_encryption_algorithm=algorithm,
    )
    assert body.key_id == cmk
    assert plaintext_of(kms, body.ciphertext_blob) == b"payload"


def test_re_encrypt_asymmetric_errors(kms: Client, cmk: str) -> None:
    key, version = create_key(kms, "RSA_2048", "ENCRYPT/DECRYPT")
    full = {
        "source_key_id": key,
        "source_key_version_id": version,
        "source_encryption_algorithm": "RSAES_OAEP_SHA_256",
    }
    error = expect_error(
        "MissingParameter",
        400,
        lambda: re_encrypt(kms, b"x", cmk, source_key_id=key, source_key_version_id=version),
    )
    assert "SourceEncryptionAlgorithm" in error.message
    assert (
        "CiphertextBlob"
        in expect_error(*INVALID, lambda: re_encrypt(kms, b"x", cmk, **full)).message
    )
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: re_encrypt(kms, b"x", key, **full),
    )


def test_re_encrypt_needs_permission_on_the_asymmetric_source(
    server: ServerProcess, kms: Client, ram: RamClient, cmk: str
) -> None:
    """A caller allowed kms:ReEncrypt only on the destination cannot use someone's private key
    as the source: the source key is authorized too."""
    key, version = create_key(kms, "RSA_2048", "ENCRYPT/DECRYPT")
    sealed = kms.asymmetric_encrypt(
        km.AsymmetricEncryptRequest(
            key_id=key, key_version_id=version, algorithm="RSAES_OAEP_SHA_1", plaintext=b64(b"s")
        )
    ).body.ciphertext_blob
    user = new_user(server, ram)
    arn = str(kms.describe_key(km.DescribeKeyRequest(key_id=cmk)).body.key_metadata.arn)
    grant(ram, user.name, doc(allow("kms:ReEncrypt", arn)))
    source = {
        "source_key_id": key,
        "source_key_version_id": version,
        "source_encryption_algorithm": "RSAES_OAEP_SHA_1",
    }
    error = expect_error(
        "Forbidden.NoPermission", 403, lambda: re_encrypt(user.kms, sealed, cmk, **source)
    )
    assert "kms:ReEncrypt" in error.message
    expect_error(
        "AccessDeniedError",
        400,
        lambda: re_encrypt(user.kms, sealed, cmk, **source, dry_run="true"),
    )
    grant(ram, user.name, doc(allow("kms:ReEncrypt", "*")))
    moved = re_encrypt(user.kms, sealed, cmk, **source)
    assert plaintext_of(kms, moved.ciphertext_blob) == b"s"


def test_re_encrypt_needs_permission_on_the_symmetric_source(
    server: ServerProcess, kms: Client, ram: RamClient, cmk: str
) -> None:
    source = str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    blob = kms.encrypt(km.EncryptRequest(key_id=source, plaintext=b64(b"s"))).body.ciphertext_blob
    user = new_user(server, ram)
    arn = str(kms.describe_key(km.DescribeKeyRequest(key_id=cmk)).body.key_metadata.arn)
    grant(ram, user.name, doc(allow("kms:ReEncrypt", arn)))
    error = expect_error("Forbidden.NoPermission", 403, lambda: re_encrypt(user.kms, blob, cmk))
    assert "kms:ReEncrypt" in error.message
    expect_error("AccessDeniedError", 400, lambda: re_encrypt(user.kms, blob, cmk, dry_run="true"))
    grant(ram, user.name, doc(allow("kms:ReEncrypt", "*")))
    assert plaintext_of(kms, re_encrypt(user.kms, blob, cmk).ciphertext_blob) == b"s"
