"""Key material import (Origin=EXTERNAL) through the official SDKs: the material is wrapped by
``cryptography`` exactly as a user's HSM or script would wrap it, and the ciphertexts Mamori then
makes open with that material outside Mamori (blob layout of DESIGN §5)."""

from __future__ import annotations

import base64
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.DeleteKeyMaterialRequest import DeleteKeyMaterialRequest
from aliyunsdkkms.request.v20160120.GetParametersForImportRequest import (
    GetParametersForImportRequest,
)
from aliyunsdkkms.request.v20160120.ImportKeyMaterialRequest import ImportKeyMaterialRequest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import create_engine, update

from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.asym_helpers import openssl_encrypt
from tests.compat.sdk import OldSdk, b64, expect_error
from tests.conftest import ServerProcess

PADDINGS: dict[str, padding.AsymmetricPadding] = {
    "RSAES_PKCS1_V1_5": padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": padding.OAEP(
        mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
    ),
    "RSAES_OAEP_SHA_256": padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    ),
}
SIZES = {"Aliyun_AES_256": 32, "Aliyun_SM4": 16}


def external_key(kms: Client, spec: str = "Aliyun_AES_256") -> str:
    body = kms.create_key(km.CreateKeyRequest(key_spec=spec, origin="EXTERNAL")).body
    assert body.key_metadata.key_state == "PendingImport"
    assert body.key_metadata.origin == "EXTERNAL"
    return str(body.key_metadata.key_id)


def parameters(kms: Client, key_id: str, algorithm: str = "RSAES_OAEP_SHA_256") -> tuple[Any, str]:
    """(the wrapping public key, the ImportToken)."""
    body = kms.get_parameters_for_import(
        km.GetParametersForImportRequest(
            key_id=key_id, wrapping_key_spec="RSA_2048", wrapping_algorithm=algorithm
        )
    ).body
    assert body.key_id == key_id and body.token_expire_time.endswith("Z")
    public = serialization.load_der_public_key(base64.b64decode(body.public_key))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    return public, str(body.import_token)


def wrap(public: Any, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256") -> str:
    return b64(public.encrypt(material, PADDINGS[algorithm]))


def import_material(
    kms: Client, key_id: str, material: bytes, *, expire: int = 0, token: str | None = None
) -> None:
    public, issued = parameters(kms, key_id)
    kms.import_key_material(
        km.ImportKeyMaterialRequest(
            key_id=key_id,
            encrypted_key_material=wrap(public, material),
            import_token=token or issued,
            key_material_expire_unix=expire,
        )
    )


def state(kms: Client, key_id: str) -> str:
    return str(kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_state)


def encrypt(kms: Client, key_id: str, plaintext: bytes = b"imported") -> str:
    return str(
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext=b64(plaintext))).body.ciphertext_blob
    )


def decrypt(kms: Client, blob: str) -> bytes:
    return base64.b64decode(kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.plaintext)


@pytest.mark.parametrize("algorithm", sorted(PADDINGS))
def test_imported_material_is_the_key(kms: Client, algorithm: str) -> None:
    key_id = external_key(kms)
    expect_error("Rejected.PendingImport", 409, lambda: encrypt(kms, key_id))
    material = os.urandom(32)
    public, token = parameters(kms, key_id, algorithm)
    kms.import_key_material(
        km.ImportKeyMaterialRequest(
            key_id=key_id,
            encrypted_key_material=wrap(public, material, algorithm),
            import_token=token,
            key_material_expire_unix=0,
        )
    )
    assert state(kms, key_id) == "Enabled"
    blob = encrypt(kms, key_id, b"hello import")
    assert decrypt(kms, blob) == b"hello import"
    # Outside Mamori: the blob is version id (36) ‖ IV (12) ‖ AES-GCM under the material, with
    # the version id as AAD (followed by the EncryptionContext's AAD, when there is one).
    raw = base64.b64decode(blob)
    assert AESGCM(material).decrypt(raw[36:48], raw[48:], raw[:36]) == b"hello import"


@pytest.mark.parametrize("spec", sorted(SIZES))
def test_sm2_wrapping_with_openssl(kms: Client, tmp_path: Path, spec: str) -> None:
    """SM2PKE-wrapped material, wrapped by the ``openssl`` command (not Mamori's SM2 library)."""
    key_id = external_key(kms, spec)
    body = kms.get_parameters_for_import(
        km.GetParametersForImportRequest(
            key_id=key_id, wrapping_key_spec="EC_SM2", wrapping_algorithm="SM2PKE"
        )
    ).body
    lines = textwrap.wrap(body.public_key, 64)
    pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
    material = os.urandom(SIZES[spec])
    kms.import_key_material(
        km.ImportKeyMaterialRequest(
            key_id=key_id,
            encrypted_key_material=b64(openssl_encrypt(tmp_path, "SM2PKE", pem, material)),
            import_token=body.import_token,
            key_material_expire_unix=0,
        )
    )
    assert decrypt(kms, encrypt(kms, key_id)) == b"imported"
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.get_parameters_for_import(
            km.GetParametersForImportRequest(
                key_id=key_id, wrapping_key_spec="EC_SM2", wrapping_algorithm="RSAES_OAEP_SHA_1"
            )
        ),
    )


def test_sm4_material(kms: Client) -> None:
    key_id = external_key(kms, "Aliyun_SM4")
    import_material(kms, key_id, os.urandom(16))
    assert decrypt(kms, encrypt(kms, key_id)) == b"imported"


def test_delete_and_reimport_only_the_same_material(kms: Client) -> None:
    key_id = external_key(kms)
    material = os.urandom(32)
    import_material(kms, key_id, material)
    blob = encrypt(kms, key_id)
    # Importing the same material again is allowed; other material never is.
    import_material(kms, key_id, material)
    expect_error("InvalidKeyMaterial", 400, lambda: import_material(kms, key_id, os.urandom(32)))

    kms.delete_key_material(km.DeleteKeyMaterialRequest(key_id=key_id))
    assert state(kms, key_id) == "PendingImport"
    expect_error("Rejected.PendingImport", 409, lambda: decrypt(kms, blob))
    expect_error("Rejected.PendingImport", 409, lambda: encrypt(kms, key_id))
    expect_error("InvalidKeyMaterial", 400, lambda: import_material(kms, key_id, os.urandom(32)))

    import_material(kms, key_id, material)
    assert state(kms, key_id) == "Enabled"
    assert decrypt(kms, blob) == b"imported"


def test_material_expires(kms: Client) -> None:
    key_id = external_key(kms)
    expire = int(time.time()) + 2
    import_material(kms, key_id, os.urandom(32), expire=expire)
    meta = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    assert meta.material_expire_time == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expire))
    blob = encrypt(kms, key_id)
    time.sleep(max(0.0, expire - time.time()) + 0.1)
    # The key stops working at once; the jobs pass then removes the material.
    expect_error("Rejected.PendingImport", 409, lambda: decrypt(kms, blob))
    deadline = time.monotonic() + 10
    while state(kms, key_id) != "PendingImport":
        assert time.monotonic() < deadline, "the expired material was not removed"
        time.sleep(0.2)
    meta = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    assert meta.material_expire_time == ""


def test_token_errors(kms: Client, server: ServerProcess) -> None:
    key_id, other = external_key(kms), external_key(kms)
    public, token = parameters(kms, key_id)
    _, other_token = parameters(kms, other)

    def send(token: str, wrapped: str | None = None, expire: int = 0) -> None:
        kms.import_key_material(
            km.ImportKeyMaterialRequest(
                key_id=key_id,
                encrypted_key_material=wrapped or wrap(public, os.urandom(32)),
                import_token=token,
                key_material_expire_unix=expire,
            )
        )

    expect_error("InvalidImportToken", 400, lambda: send("mit1.not-a-token"))
    expect_error("InvalidImportToken", 400, lambda: send(other_token))
    expect_error("InvalidKeyMaterial", 400, lambda: send(token, wrap(public, os.urandom(16))))
    expect_error("InvalidKeyMaterial", 400, lambda: send(token, b64(os.urandom(256))))
    expect_error("InvalidParameter", 400, lambda: send(token, expire=int(time.time()) - 10))
    assert state(kms, key_id) == "PendingImport"

    engine = create_engine(normalize_url(server.store_url))
    with engine.begin() as conn:
        conn.execute(
            update(t.import_tokens)
            .where(t.import_tokens.c.key_id == key_id)
            .values(expires_at=int(time.time()) - 1)
        )
    engine.dispose()
    expect_error("ExpiredImportToken", 400, lambda: send(token))
    assert state(kms, key_id) == "PendingImport"


def test_parameter_and_origin_errors(kms: Client) -> None:
    native = str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    expect_error("Unsupported.Origin", 400, lambda: parameters(kms, native))
    expect_error(
        "Unsupported.Origin",
        400,
        lambda: kms.delete_key_material(km.DeleteKeyMaterialRequest(key_id=native)),
    )
    key_id = external_key(kms)
    expect_error("InvalidParameter", 400, lambda: parameters(kms, key_id, "RSAES_OAEP_SHA_512"))
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.get_parameters_for_import(
            km.GetParametersForImportRequest(
                key_id=key_id, wrapping_key_spec="RSA_4096", wrapping_algorithm="RSAES_OAEP_SHA_1"
            )
        ),
    )
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: kms.create_key(
            km.CreateKeyRequest(
                origin="EXTERNAL", enable_automatic_rotation=True, rotation_interval="30d"
            )
        ),
    )
    import_material(kms, key_id, os.urandom(32))
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: kms.create_key_version(km.CreateKeyVersionRequest(key_id=key_id)),
    )


def test_import_into_a_key_pending_deletion(kms: Client) -> None:
    key_id = external_key(kms)
    public, token = parameters(kms, key_id)
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    expect_error(
        "Rejected.StateModifiedFailed",
        409,
        lambda: kms.import_key_material(
            km.ImportKeyMaterialRequest(
                key_id=key_id,
                encrypted_key_material=wrap(public, os.urandom(32)),
                import_token=token,
                key_material_expire_unix=0,
            )
        ),
    )


def test_old_sdk_import_flow(old: OldSdk, kms: Client) -> None:
    create = CreateKeyRequest()
    create.set_Origin("EXTERNAL")
    key_id = old.call(create)["KeyMetadata"]["KeyId"]
    request = GetParametersForImportRequest()
    request.set_KeyId(key_id)
    request.set_WrappingKeySpec("RSA_2048")
    request.set_WrappingAlgorithm("RSAES_PKCS1_V1_5")
    body = old.call(request)
    public = serialization.load_der_public_key(base64.b64decode(body["PublicKey"]))
    material = os.urandom(32)
    imported = ImportKeyMaterialRequest()
    imported.set_KeyId(key_id)
    imported.set_ImportToken(body["ImportToken"])
    imported.set_EncryptedKeyMaterial(wrap(public, material, "RSAES_PKCS1_V1_5"))
    imported.set_KeyMaterialExpireUnix(0)
    old.call(imported)
    assert state(kms, key_id) == "Enabled"

    imported.set_ImportToken("mit1.wrong")
    with pytest.raises(ServerException) as info:
        old.call(imported)
    assert (info.value.get_error_code(), info.value.get_http_status()) == (
        "InvalidImportToken",
        400,
    )
    removal = DeleteKeyMaterialRequest()
    removal.set_KeyId(key_id)
    old.call(removal)
    assert state(kms, key_id) == "PendingImport"


def test_cancelling_deletion_of_a_key_without_material(kms: Client) -> None:
    """A key scheduled for deletion before any material arrived goes back to PendingImport."""
    key_id = external_key(kms)
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=key_id))
    assert state(kms, key_id) == "PendingImport"
    expect_error("Rejected.PendingImport", 409, lambda: encrypt(kms, key_id))

    import_material(kms, key_id, os.urandom(32))
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=key_id))
    assert state(kms, key_id) == "Enabled"
