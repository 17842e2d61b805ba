"""The asymmetric actions through the old SDK (``aliyun-python-sdk-kms`` request classes, RPC
signature V1): each succeeds, and each error reaches the old SDK's ``ServerException``."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import RpcRequest
from aliyunsdkkms.request.v20160120.AsymmetricDecryptRequest import AsymmetricDecryptRequest
from aliyunsdkkms.request.v20160120.AsymmetricEncryptRequest import AsymmetricEncryptRequest
from aliyunsdkkms.request.v20160120.AsymmetricSignRequest import AsymmetricSignRequest
from aliyunsdkkms.request.v20160120.AsymmetricVerifyRequest import AsymmetricVerifyRequest
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.DecryptRequest import DecryptRequest
from aliyunsdkkms.request.v20160120.ExportDataKeyRequest import ExportDataKeyRequest
from aliyunsdkkms.request.v20160120.GenerateAndExportDataKeyRequest import (
    GenerateAndExportDataKeyRequest,
)
from aliyunsdkkms.request.v20160120.GetPublicKeyRequest import GetPublicKeyRequest
from aliyunsdkkms.request.v20160120.ReEncryptRequest import ReEncryptRequest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.compat.asym_helpers import (
    ENCRYPTION,
    SIGNING,
    digest_for,
    openssl_encrypt,
    openssl_verifies,
)
from tests.compat.sdk import OldSdk, b64


def call(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> dict[str, Any]:
    request = request_class()
    for name, value in params.items():
        getattr(request, f"set_{name}")(value)
    return old.call(request)


def fails(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> tuple[str, int]:
    with pytest.raises(ServerException) as info:
        call(old, request_class, **params)
    return info.value.get_error_code(), info.value.get_http_status()


def new_key(old: OldSdk, spec: str, usage: str) -> tuple[str, str]:
    meta = call(old, CreateKeyRequest, KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    return meta["KeyId"], meta["PrimaryKeyVersion"]


def pem_of(old: OldSdk, key: str, version: str) -> str:
    body = call(old, GetPublicKeyRequest, KeyId=key, KeyVersionId=version)
    assert (body["KeyId"], body["KeyVersionId"]) == (key, version)
    return str(body["PublicKey"])


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
def test_sign_verify_and_get_public_key(
    old: OldSdk, tmp_path: Path, spec: str, algorithm: str
) -> None:
    key, version = new_key(old, spec, "SIGN/VERIFY")
    pem = pem_of(old, key, version)
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    digest = digest_for(spec, der, b"old sdk")
    signed = call(
        old,
        AsymmetricSignRequest,
        KeyId=key,
        KeyVersionId=version,
        Algorithm=algorithm,
        Digest=b64(digest),
    )
    signature = base64.b64decode(signed["Value"])
    assert openssl_verifies(tmp_path, spec, algorithm, pem, b"old sdk", signature)
    params = {"KeyId": key, "KeyVersionId": version, "Algorithm": algorithm}
    verified = call(
        old, AsymmetricVerifyRequest, **params, Digest=b64(digest), Value=signed["Value"]
    )
    assert verified["Value"] is True
    bad = call(old, AsymmetricVerifyRequest, **params, Digest=b64(bytes(32)), Value=signed["Value"])
    assert bad["Value"] is False
    if spec != "EC_ED25519":  # Ed25519 signs the bytes given, of any length
        assert fails(old, AsymmetricSignRequest, **params, Digest=b64(b"short")) == (
            "InvalidParameter",
            400,
        )
    assert fails(
        old, AsymmetricSignRequest, KeyId=key, Algorithm=algorithm, Digest=b64(digest)
    ) == (
        "MissingParameter",
        400,
    )


def test_encrypt_decrypt_and_re_encrypt(old: OldSdk) -> None:
    key, version = new_key(old, "RSA_2048", "ENCRYPT/DECRYPT")
    params = {"KeyId": key, "KeyVersionId": version, "Algorithm": "RSAES_OAEP_SHA_256"}
    public = serialization.load_pem_public_key(pem_of(old, key, version).encode())
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    outside = public.encrypt(b"from outside", oaep)
    opened = call(old, AsymmetricDecryptRequest, **params, CiphertextBlob=b64(outside))
    assert base64.b64decode(opened["Plaintext"]) == b"from outside"
    sealed = call(old, AsymmetricEncryptRequest, **params, Plaintext=b64(b"inside"))
    assert sealed["KeyVersionId"] == version
    cmk = call(old, CreateKeyRequest)["KeyMetadata"]["KeyId"]
    moved = call(
        old,
        ReEncryptRequest,
        CiphertextBlob=sealed["CiphertextBlob"],
        DestinationKeyId=cmk,
        SourceKeyId=key,
        SourceKeyVersionId=version,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    plain = call(old, DecryptRequest, CiphertextBlob=moved["CiphertextBlob"])["Plaintext"]
    assert base64.b64decode(plain) == b"inside"
    assert fails(old, AsymmetricDecryptRequest, **params, CiphertextBlob=b64(b"junk")) == (
        "InvalidParameter",
        400,
    )
    assert fails(old, AsymmetricSignRequest, **params, Digest=b64(hashlib.sha256().digest())) == (
        "Rejected.UnsupportedOperation",
        400,
    )


@pytest.mark.parametrize(("spec", "algorithm", "limit"), ENCRYPTION)
def test_openssl_ciphertexts_decrypt_for_every_algorithm(
    old: OldSdk, tmp_path: Path, spec: str, algorithm: str, limit: int
) -> None:
    key, version = new_key(old, spec, "ENCRYPT/DECRYPT")
    params = {"KeyId": key, "KeyVersionId": version, "Algorithm": algorithm}
    secret = bytes(range(256))[:limit]
    sealed = openssl_encrypt(tmp_path, algorithm, pem_of(old, key, version), secret)
    opened = call(old, AsymmetricDecryptRequest, **params, CiphertextBlob=b64(sealed))
    assert base64.b64decode(opened["Plaintext"]) == secret
    mine = call(old, AsymmetricEncryptRequest, **params, Plaintext=b64(secret))["CiphertextBlob"]
    opened = call(old, AsymmetricDecryptRequest, **params, CiphertextBlob=mine)
    assert base64.b64decode(opened["Plaintext"]) == secret
    too_long = b64(bytes(limit + 1))
    assert fails(old, AsymmetricEncryptRequest, **params, Plaintext=too_long) == (
        "InvalidParameter",
        400,
    )


def test_generate_and_export_then_export(old: OldSdk) -> None:
    outsider = rsa.generate_private_key(65537, 2048)
    public = outsider.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cmk = call(old, CreateKeyRequest)["KeyMetadata"]["KeyId"]
    wrapping = {
        "PublicKeyBlob": b64(public),
        "WrappingKeySpec": "RSA_2048",
        "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
    }
    made = call(old, GenerateAndExportDataKeyRequest, KeyId=cmk, NumberOfBytes=24, **wrapping)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    data_key = outsider.decrypt(base64.b64decode(made["ExportedDataKey"]), oaep)
    assert len(data_key) == 24
    again = call(old, ExportDataKeyRequest, CiphertextBlob=made["CiphertextBlob"], **wrapping)
    assert outsider.decrypt(base64.b64decode(again["ExportedDataKey"]), oaep) == data_key
    wrong = {**wrapping, "WrappingKeySpec": "EC_SM2"}
    assert fails(old, ExportDataKeyRequest, CiphertextBlob=made["CiphertextBlob"], **wrong) == (
        "InvalidParameter",
        400,
    )
