"""The quick-start path: create a key and encrypt with each official SDK."""

from __future__ import annotations

import base64

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkkms.request.v20160120.DecryptRequest import DecryptRequest
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest

from tests.compat.sdk import OldSdk


def test_new_sdk_creates_a_key_and_encrypts(kms: Client) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    blob = kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(b"hello").decode())
    ).body.ciphertext_blob
    plain = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.plaintext
    assert base64.b64decode(plain) == b"hello"


def test_old_sdk_decrypts_what_the_new_sdk_encrypted(kms: Client, old: OldSdk) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    enc = EncryptRequest()
    enc.set_KeyId(key_id)
    enc.set_Plaintext(base64.b64encode(b"old and new").decode())
    enc.set_EncryptionContext('{"a": "1", "b": "2"}')
    blob = old.call(enc)["CiphertextBlob"]
    dec = DecryptRequest()
    dec.set_CiphertextBlob(blob)
    dec.set_EncryptionContext('{"b":"2","a":"1"}')
    assert base64.b64decode(old.call(dec)["Plaintext"]) == b"old and new"
