"""HMAC keys through the official new SDK (GenerateMac and VerifyMac exist only there)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.sdk import b64, expect_error

SIZES = {"HMAC_SHA_224": 28, "HMAC_SHA_256": 32, "HMAC_SHA_384": 48, "HMAC_SHA_512": 64}
SIZES["HMAC_SM3"] = 32


def new_key(kms: Client, spec: str) -> str:
    return str(kms.create_key(km.CreateKeyRequest(key_spec=spec)).body.key_metadata.key_id)


def mac(kms: Client, key: str, algorithm: str, message: bytes, **extra: Any) -> Any:
    return kms.generate_mac(
        km.GenerateMacRequest(key_id=key, algorithm=algorithm, message=b64(message), **extra)
    ).body


def verify(kms: Client, key: str, algorithm: str, message: bytes, tag: bytes) -> Any:
    return kms.verify_mac(
        km.VerifyMacRequest(key_id=key, algorithm=algorithm, message=b64(message), mac=b64(tag))
    ).body


@pytest.mark.parametrize("spec", sorted(SIZES))
def test_generate_and_verify_each_hmac_spec(kms: Client, spec: str) -> None:
    key = new_key(kms, spec)
    made = mac(kms, key, spec, b"message")
    assert (made.key_id, made.algorithm) == (key, spec)
    tag = base64.b64decode(made.mac)
    assert len(tag) == SIZES[spec]
    assert base64.b64decode(mac(kms, key, spec, b"message").mac) == tag  # deterministic
    body = verify(kms, key, spec, b"message", tag)
    assert (body.value, body.key_id, body.algorithm) == (True, key, spec)
    assert verify(kms, key, spec, b"messagE", tag).value is False
    assert verify(kms, key, spec, b"message", tag[:-1]).value is False
    other = new_key(kms, spec)
    assert verify(kms, other, spec, b"message", tag).value is False


def test_mac_errors(kms: Client) -> None:
    key = new_key(kms, "HMAC_SHA_256")
    error = expect_error(
        "Rejected.UnsupportedOperation", 400, lambda: mac(kms, key, "HMAC_SM3", b"m")
    )
    assert "HMAC_SM3" in error.message
    error = expect_error("InvalidParameter", 400, lambda: mac(kms, key, "HMAC_MD5", b"m"))
    assert "Algorithm" in error.message
    aes = new_key(kms, "Aliyun_AES_256")
    expect_error("Rejected.UnsupportedOperation", 400, lambda: mac(kms, aes, "HMAC_SHA_256", b"m"))
    expect_error(
        "MissingParameter",
        400,
        lambda: kms.generate_mac(km.GenerateMacRequest(key_id=key, algorithm="HMAC_SHA_256")),
    )
    expect_error(
        "DryRunOperationError", 400, lambda: mac(kms, key, "HMAC_SHA_256", b"m", dry_run="true")
    )
    kms.disable_key(km.DisableKeyRequest(key_id=key))
    expect_error("Rejected.Disabled", 409, lambda: mac(kms, key, "HMAC_SHA_256", b"m"))
    expect_error("Rejected.Disabled", 409, lambda: verify(kms, key, "HMAC_SHA_256", b"m", b"t"))
