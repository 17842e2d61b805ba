"""ProtectionLevel=HSM through the official SDKs: keys generated in a SoftHSM2 token, every
operation on the token, and blobs in the same format as software keys (DESIGN §5)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.DecryptRequest import DecryptRequest
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest

from tests.compat.sdk import OldSdk, b64, expect_error
from tests.conftest import ServerProcess
from tests.hsm.softhsm import SoftHsm, probe

CONTEXT = {"purpose": "hsm-test", "名前": "値"}


def hsm_key(kms: Client, spec: str = "Aliyun_AES_256") -> str:
    meta = kms.create_key(km.CreateKeyRequest(key_spec=spec, protection_level="HSM")).body
    assert meta.key_metadata.protection_level == "HSM"
    return str(meta.key_metadata.key_id)


def encrypt(kms: Client, key: str, data: bytes, context: dict[str, str] | None = CONTEXT) -> str:
    body = kms.encrypt(
        km.EncryptRequest(key_id=key, plaintext=b64(data), encryption_context=context)
    ).body
    return str(body.ciphertext_blob)


def decrypt(kms: Client, blob: str, context: dict[str, str] | None = CONTEXT) -> bytes:
    body = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context=context)).body
    return base64.b64decode(body.plaintext)


@pytest.mark.parametrize("spec", ["Aliyun_AES_256", "Aliyun_AES_192", "Aliyun_AES_128"])
def test_hsm_key_round_trip(
    hsm_kms: Client, hsm_server: ServerProcess, softhsm: SoftHsm, spec: str
) -> None:
    key = hsm_key(hsm_kms, spec)
    described = hsm_kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata
    assert (described.protection_level, described.key_spec) == ("HSM", spec)
    for data in (b"h", b"hello hsm", bytes(range(256)) * 24):
        blob = encrypt(hsm_kms, key, data)
        assert decrypt(hsm_kms, blob) == data
    version = described.primary_key_version
    token_key = probe(softhsm, f"mamori/key/{key}/{version}")
    assert (token_key["count"], token_key["bits"]) == (1, int(spec[-3:]))


def test_hsm_blob_has_the_software_layout(hsm_kms: Client) -> None:
    key = hsm_key(hsm_kms)
    software = str(hsm_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    for k in (key, software):
        body = hsm_kms.encrypt(km.EncryptRequest(key_id=k, plaintext=b64(b"x" * 100))).body
        raw = base64.b64decode(body.ciphertext_blob)
        # version id (36 ASCII) ‖ IV (12) ‖ ciphertext (100) ‖ tag (16), for either kind of key.
        assert len(raw) == 36 + 12 + 100 + 16
        assert raw[:36].decode("ascii") == body.key_version_id


def test_generate_data_key_and_re_encrypt_cross_protection_levels(hsm_kms: Client) -> None:
    hsm = hsm_key(hsm_kms)
    software = str(hsm_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    made = hsm_kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id=hsm, encryption_context=CONTEXT)
    ).body
    data_key = base64.b64decode(made.plaintext)
    assert len(data_key) == 32
    assert decrypt(hsm_kms, made.ciphertext_blob) == data_key
    without = hsm_kms.generate_data_key_without_plaintext(
        km.GenerateDataKeyWithoutPlaintextRequest(key_id=hsm, number_of_bytes=16)
    ).body
    assert len(decrypt(hsm_kms, without.ciphertext_blob, None)) == 16

    # HSM → software → HSM: the blob format carries no trace of where the key lives.
    to_software = hsm_kms.re_encrypt(
        km.ReEncryptRequest(
            ciphertext_blob=made.ciphertext_blob,
            source_encryption_context=CONTEXT,
            destination_key_id=software,
        )
    ).body
    assert to_software.key_id == software
    assert decrypt(hsm_kms, to_software.ciphertext_blob, None) == data_key
    back = hsm_kms.re_encrypt(
        km.ReEncryptRequest(
            ciphertext_blob=to_software.ciphertext_blob,
            destination_key_id=hsm,
            destination_encryption_context={"again": "1"},
        )
    ).body
    assert back.key_id == hsm
    assert decrypt(hsm_kms, back.ciphertext_blob, {"again": "1"}) == data_key


def test_rotation_makes_a_new_token_key_and_old_blobs_still_open(
    hsm_kms: Client, softhsm: SoftHsm
) -> None:
    key = hsm_key(hsm_kms)
    old_blob = encrypt(hsm_kms, key, b"before rotation")
    first = hsm_kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata
    second = hsm_kms.create_key_version(km.CreateKeyVersionRequest(key_id=key)).body
    new_version = second.key_version.key_version_id
    assert new_version != first.primary_key_version
    body = hsm_kms.encrypt(km.EncryptRequest(key_id=key, plaintext=b64(b"after"))).body
    assert body.key_version_id == new_version
    assert decrypt(hsm_kms, old_blob) == b"before rotation"
    assert probe(softhsm, f"mamori/key/{key}/{new_version}")["count"] == 1
    assert probe(softhsm, f"mamori/key/{key}/{first.primary_key_version}")["count"] == 1


def test_wrong_context_or_tampered_blob_is_the_documented_error(hsm_kms: Client) -> None:
    key = hsm_key(hsm_kms)
    blob = encrypt(hsm_kms, key, b"secret")
    expect_error("InvalidParameter", 400, lambda: decrypt(hsm_kms, blob, {"purpose": "other"}))
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    expect_error("InvalidParameter", 400, lambda: decrypt(hsm_kms, tampered))


def test_key_states_apply_to_hsm_keys(hsm_kms: Client) -> None:
    key = hsm_key(hsm_kms)
    blob = encrypt(hsm_kms, key, b"x")
    hsm_kms.disable_key(km.DisableKeyRequest(key_id=key))
    expect_error("Rejected.Disabled", 409, lambda: decrypt(hsm_kms, blob))
    hsm_kms.enable_key(km.EnableKeyRequest(key_id=key))
    assert decrypt(hsm_kms, blob) == b"x"


# SM4-GCM, SM2 and SM3 have no PKCS#11 mechanisms (test_hsm_asymmetric.py has the rest).
@pytest.mark.parametrize("spec", ["Aliyun_SM4", "EC_SM2", "HMAC_SM3"])
def test_specs_the_token_cannot_hold_are_unsupported_and_create_nothing(
    hsm_kms: Client, spec: str
) -> None:
    before = hsm_kms.list_keys(km.ListKeysRequest(page_size=100)).body.total_count
    expect_error(
        "Unsupported.ProtectionLevel",
        400,
        lambda: hsm_kms.create_key(km.CreateKeyRequest(key_spec=spec, protection_level="HSM")),
    )
    expect_error(
        "Unsupported.ProtectionLevel",
        400,
        lambda: hsm_kms.create_key(
            km.CreateKeyRequest(key_spec="Aliyun_AES_192", protection_level="SOFTWARE")
        ),
    )
    assert hsm_kms.list_keys(km.ListKeysRequest(page_size=100)).body.total_count == before


def test_old_sdk_creates_and_uses_an_hsm_key(hsm_old: OldSdk, hsm_kms: Client) -> None:
    create = CreateKeyRequest()
    create.set_ProtectionLevel("HSM")
    create.set_KeySpec("Aliyun_AES_128")
    meta = hsm_old.call(create)["KeyMetadata"]
    assert meta["ProtectionLevel"] == "HSM"
    enc = EncryptRequest()
    enc.set_KeyId(meta["KeyId"])
    enc.set_Plaintext(b64(b"old sdk"))
    enc.set_EncryptionContext(json.dumps(CONTEXT))
    blob = hsm_old.call(enc)["CiphertextBlob"]
    dec = DecryptRequest()
    dec.set_CiphertextBlob(blob)
    dec.set_EncryptionContext(json.dumps(CONTEXT))
    assert base64.b64decode(hsm_old.call(dec)["Plaintext"]) == b"old sdk"
    # A blob the old SDK made opens through the new one.
    assert decrypt(hsm_kms, blob) == b"old sdk"


def test_hsm_key_cannot_be_read_out_of_the_token(hsm_kms: Client, softhsm: SoftHsm) -> None:
    key = hsm_key(hsm_kms)
    version = hsm_kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata
    found = probe(softhsm, f"mamori/key/{key}/{version.primary_key_version}")
    assert found["count"] == 1
    assert found["extractable"] is False and found["never_extractable"] is True
    assert found["sensitive"] is True and found["always_sensitive"] is True
    assert found["token"] is True
    assert found["value"] == "AttributeSensitive"
    assert found["wrap"] in ("KeyUnextractable", "KeyNotWrappable")


def test_list_keys_filters_by_protection_level(hsm_kms: Client) -> None:
    tag = f"hsm-filter-{uuid.uuid4().hex[:8]}"
    tags = json.dumps([{"TagKey": tag, "TagValue": "v"}])
    hsm = hsm_kms.create_key(km.CreateKeyRequest(protection_level="HSM", tags=tags)).body
    soft = hsm_kms.create_key(km.CreateKeyRequest(tags=tags)).body
    for level, expected in (("HSM", hsm), ("SOFTWARE", soft)):
        filters = json.dumps(
            [{"Key": "TagKey", "Values": [tag]}, {"Key": "ProtectionLevel", "Values": [level]}]
        )
        listed = hsm_kms.list_keys(km.ListKeysRequest(filters=filters, page_size=100)).body
        assert [k.key_id for k in listed.keys.key] == [expected.key_metadata.key_id]


def test_imported_material_on_hsm_is_unsupported(hsm_kms: Client) -> None:
    expect_error(
        "Unsupported.ProtectionLevel",
        400,
        lambda: hsm_kms.create_key(km.CreateKeyRequest(origin="EXTERNAL", protection_level="HSM")),
    )
