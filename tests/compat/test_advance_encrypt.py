"""AdvanceEncrypt on the shared gateway through the official OLD SDK (the only SDK that has it):
its blob is the Advance form and opens with Decrypt (new SDK) under the EncryptionContext whose
AAD it was given, in either form the instance SDKs derive (hex digest or raw digest)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from alibabacloud_kms20160120 import models as km
from aliyunsdkkms.request.v20160120.AdvanceEncryptRequest import AdvanceEncryptRequest
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest

from tests.compat.sdk import OldSdk, b64, new_sdk
from tests.compat.test_old_sdk import call, fails
from tests.conftest import ServerProcess

CONTEXT = {"tenant": "acme", "app": "billing"}
_TEXT = "&".join(f"{k}={CONTEXT[k]}" for k in sorted(CONTEXT)).encode()


@pytest.fixture
def old(server: ServerProcess) -> OldSdk:
    """The old SDK against the test server."""
    return OldSdk(server.endpoint, server.access_key_id, server.access_key_secret)


@pytest.mark.parametrize(
    "aad", [hashlib.sha256(_TEXT).hexdigest().encode(), hashlib.sha256(_TEXT).digest()]
)
def test_advance_encrypt_blob_decrypts_on_the_shared_gateway(
    server: ServerProcess, old: OldSdk, aad: bytes
) -> None:
    key_id = call(old, CreateKeyRequest)["KeyMetadata"]["KeyId"]
    sealed = call(old, AdvanceEncryptRequest, KeyId=key_id, Plaintext=b64(b"adv"), Aad=b64(aad))
    raw = base64.b64decode(sealed["CiphertextBlob"])
    assert raw[:3] == b"$\x00\x02" and raw[3:39].decode() == sealed["KeyVersionId"]
    assert sealed["KeyId"] == key_id and sealed["Algorithm"] == "AES_GCM"
    client = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    opened = client.decrypt(
        km.DecryptRequest(ciphertext_blob=sealed["CiphertextBlob"], encryption_context=CONTEXT)
    ).body
    assert base64.b64decode(opened.plaintext) == b"adv"
    assert opened.key_version_id == sealed["KeyVersionId"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"Iv": b64(b"\x00" * 12)}, "Iv"),  # a caller-chosen GCM IV is refused, not dropped
        ({"Algorithm": "AES_CBC"}, "Algorithm"),
        ({"PaddingMode": "PKCS7_PADDING"}, "PaddingMode"),
        ({"Aad": "not base64!"}, "Aad"),
    ],
)
def test_advance_encrypt_refusals(old: OldSdk, params: dict[str, str], name: str) -> None:
    key_id = call(old, CreateKeyRequest)["KeyMetadata"]["KeyId"]
    exc = fails(old, AdvanceEncryptRequest, KeyId=key_id, Plaintext=b64(b"x"), **params)
    assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidParameter", 400)
    assert f'"{name}"' in exc.get_error_msg(), json.dumps(exc.get_error_msg())
