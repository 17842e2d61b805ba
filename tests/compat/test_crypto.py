"""Symmetric cryptography through the official new SDK: Encrypt, Decrypt, data keys, ReEncrypt,
the blob format of DESIGN §5, key states and every documented error."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.DecryptRequest import DecryptRequest
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest
from aliyunsdkkms.request.v20160120.GenerateDataKeyRequest import GenerateDataKeyRequest

from tests.compat.sdk import OldSdk, b64, expect_error

VERSION_ID_LEN = 36
IV_LEN = 12
TAG_LEN = 16
MAX_PLAINTEXT = 6 * 1024
# Every character the wire encodes specially; '=' and '&' only where no other map could share
# the AAD (a key holding either, or a value with '=' after '&', is refused: docs/keys.md).
ODD_CONTEXT = {
    "名前": "値 with spaces",
    "k+/*~%": "v=1&w + / * ~ &",
    "emoji 🔑": "ünïcödé",
}


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def error_of(call: Callable[[], Any]) -> AlibabaCloudException:
    """The SDK exception ``call`` raises; fails the test when it succeeds."""
    with pytest.raises(AlibabaCloudException) as info:
        call()
    return info.value


def new_key(kms: Client, spec: str | None = None) -> str:
    return str(kms.create_key(km.CreateKeyRequest(key_spec=spec)).body.key_metadata.key_id)


def encrypt(
    kms: Client, key: str, data: bytes, context: dict[str, Any] | None = None
) -> km.EncryptResponseBody:
    return kms.encrypt(
        km.EncryptRequest(key_id=key, plaintext=b64(data), encryption_context=context)
    ).body


def decrypt(
    kms: Client, blob: str, context: dict[str, Any] | None = None
) -> km.DecryptResponseBody:
    return kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context=context)).body


@pytest.fixture(scope="module")
def key(kms: Client) -> str:
    """One Enabled Aliyun_AES_256 key shared by the read-only tests of this module."""
    return new_key(kms)


# --- Encrypt / Decrypt ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_SM4"])
def test_round_trip_and_blob_layout_for_each_symmetric_spec(kms: Client, spec: str | None) -> None:
    key_id = new_key(kms, spec)
    data = b"attack at dawn \x00\xff"
    enc = encrypt(kms, key_id, data)
    assert enc.key_id == key_id
    uuid.UUID(enc.key_version_id)
    raw = unb64(enc.ciphertext_blob)
    assert raw[:VERSION_ID_LEN] == enc.key_version_id.encode("ascii")
    assert len(raw) == VERSION_ID_LEN + IV_LEN + len(data) + TAG_LEN
    dec = decrypt(kms, enc.ciphertext_blob)
    assert unb64(dec.plaintext) == data
    assert (dec.key_id, dec.key_version_id) == (key_id, enc.key_version_id)


def test_key_version_is_the_primary_version(kms: Client, key: str) -> None:
    primary = kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata
    assert encrypt(kms, key, b"x").key_version_id == primary.primary_key_version


def test_each_encryption_uses_a_fresh_iv(kms: Client, key: str) -> None:
    first = unb64(encrypt(kms, key, b"same").ciphertext_blob)
    second = unb64(encrypt(kms, key, b"same").ciphertext_blob)
    assert first[:VERSION_ID_LEN] == second[:VERSION_ID_LEN]
    assert first[VERSION_ID_LEN:] != second[VERSION_ID_LEN:]


def test_key_is_named_by_id_alias_and_arn(kms: Client) -> None:
    key_id = new_key(kms)
    alias = f"alias/crypto-{uuid.uuid4().hex[:12]}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    arn = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.arn
    assert arn.endswith(f":key/{key_id}")
    for name in (key_id, alias, arn):
        enc = encrypt(kms, name, name.encode())
        assert enc.key_id == key_id
        assert unb64(decrypt(kms, enc.ciphertext_blob).plaintext) == name.encode()
        gen = kms.generate_data_key(km.GenerateDataKeyRequest(key_id=name)).body
        assert gen.key_id == key_id


def test_encryption_context_round_trip(kms: Client, key: str) -> None:
    enc = encrypt(kms, key, b"with context", ODD_CONTEXT)
    assert unb64(decrypt(kms, enc.ciphertext_blob, ODD_CONTEXT).plaintext) == b"with context"
    reordered = dict(reversed(list(ODD_CONTEXT.items())))
    assert unb64(decrypt(kms, enc.ciphertext_blob, reordered).plaintext) == b"with context"


def test_encryption_context_key_order_does_not_matter(kms: Client, key: str) -> None:
    enc = encrypt(kms, key, b"ordered", {"a": "1", "b": "2"})
    assert unb64(decrypt(kms, enc.ciphertext_blob, {"b": "2", "a": "1"}).plaintext) == b"ordered"


def test_encryption_context_from_the_old_sdk_with_any_spacing(
    kms: Client, old: OldSdk, key: str
) -> None:
    enc = encrypt(kms, key, b"spacing", ODD_CONTEXT)
    req = DecryptRequest()
    req.set_CiphertextBlob(enc.ciphertext_blob)
    spaced = ", ".join(f'"{k}" :  "{v}"' for k, v in sorted(ODD_CONTEXT.items(), reverse=True))
    req.set_EncryptionContext("{ " + spaced + " }")
    assert unb64(old.call(req)["Plaintext"]) == b"spacing"


def test_empty_context_is_the_same_as_none(kms: Client, key: str) -> None:
    enc = encrypt(kms, key, b"empty", {})
    assert unb64(decrypt(kms, enc.ciphertext_blob).plaintext) == b"empty"
    enc = encrypt(kms, key, b"none")
    assert unb64(decrypt(kms, enc.ciphertext_blob, {}).plaintext) == b"none"


@pytest.mark.parametrize(
    ("made_with", "opened_with"),
    [
        ({"a": "1"}, None),
        (None, {"a": "1"}),
        ({"a": "1"}, {"a": "2"}),
        ({"a": "1"}, {"A": "1"}),
        ({"a": "1"}, {"a": "1", "b": "2"}),
        ({"a": "1", "b": "2"}, {"a": "1"}),
        ({"a": "1"}, {"a": "1 "}),
    ],
)
def test_wrong_encryption_context_is_invalid_ciphertext(
    kms: Client, key: str, made_with: dict[str, str] | None, opened_with: dict[str, str] | None
) -> None:
    blob = encrypt(kms, key, b"bound", made_with).ciphertext_blob
    exc = expect_error("InvalidParameter", 400, lambda: decrypt(kms, blob, opened_with))
    assert "CiphertextBlob" in exc.message


def test_maximum_plaintext_size(kms: Client, key: str) -> None:
    data = bytes(range(256)) * (MAX_PLAINTEXT // 256)
    assert len(data) == MAX_PLAINTEXT
    enc = encrypt(kms, key, data)
    assert len(unb64(enc.ciphertext_blob)) == VERSION_ID_LEN + IV_LEN + MAX_PLAINTEXT + TAG_LEN
    assert unb64(decrypt(kms, enc.ciphertext_blob).plaintext) == data
    exc = expect_error("InvalidParameter", 400, lambda: encrypt(kms, key, data + b"!"))
    assert "Plaintext" in exc.message


def test_empty_plaintext_is_a_missing_parameter(kms: Client, key: str) -> None:
    # Plaintext is required; an empty value is the same as none at all.
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.encrypt(km.EncryptRequest(key_id=key, plaintext=""))
    )
    assert "Plaintext" in exc.message


def test_advance_prefixed_blob_decrypts(kms: Client, key: str) -> None:
    enc = encrypt(kms, key, b"advance", {"x": "y"})
    advance = b64(b"$\x00\x02" + unb64(enc.ciphertext_blob))
    dec = decrypt(kms, advance, {"x": "y"})
    assert unb64(dec.plaintext) == b"advance"
    assert dec.key_version_id == enc.key_version_id


# --- Ciphertext errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where", [VERSION_ID_LEN + 1, VERSION_ID_LEN + IV_LEN, VERSION_ID_LEN + IV_LEN + 3, -1]
)
def test_tampered_blob_is_invalid(kms: Client, key: str, where: int) -> None:
    raw = bytearray(unb64(encrypt(kms, key, b"tamper me").ciphertext_blob))
    raw[where] ^= 0x01
    exc = expect_error("InvalidParameter", 400, lambda: decrypt(kms, b64(bytes(raw))))
    assert "CiphertextBlob" in exc.message


def test_truncated_blob_is_invalid(kms: Client, key: str) -> None:
    raw = unb64(encrypt(kms, key, b"truncate me").ciphertext_blob)
    for cut in (raw[:-1], raw[: VERSION_ID_LEN + IV_LEN + TAG_LEN - 1], raw[:VERSION_ID_LEN]):
        expect_error("InvalidParameter", 400, lambda cut=cut: decrypt(kms, b64(cut)))


@pytest.mark.parametrize(
    "blob",
    [
        "not base64 at all!",
        "%%%%",
        "QUJD",  # "ABC": valid base64, far too short
        b64(b"x" * 40),
        b64(b"\xff" * 80),  # long enough, but no version id
        b64(b"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz" + b"\x01" * 40),  # not a UUID
        b64(b"\x00" * 8 + b"-\x00\x00\x00\x00" * 3 + b"-" + b"\x00" * 12 + b"\x01" * 40),
        b64(b"$\x00\x02" + b"\x01" * 60),  # Advance prefix, then junk
    ],
)
def test_malformed_blob_is_invalid(kms: Client, blob: str) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: decrypt(kms, blob))
    assert "CiphertextBlob" in exc.message


def test_blob_of_an_unknown_key_version(kms: Client, key: str) -> None:
    raw = unb64(encrypt(kms, key, b"orphan").ciphertext_blob)
    forged = str(uuid.uuid4()).encode("ascii") + raw[VERSION_ID_LEN:]
    expect_error("Forbidden.KeyNotFound", 404, lambda: decrypt(kms, b64(forged)))


def test_blob_of_one_key_does_not_open_as_another_key(kms: Client, key: str) -> None:
    other = new_key(kms)
    mine = unb64(encrypt(kms, key, b"mine").ciphertext_blob)
    theirs = unb64(encrypt(kms, other, b"theirs").ciphertext_blob)
    spliced = theirs[:VERSION_ID_LEN] + mine[VERSION_ID_LEN:]
    expect_error("InvalidParameter", 400, lambda: decrypt(kms, b64(spliced)))


# --- Parameter errors --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["key-doesnotexist0000000000", "alias/no-such-alias", "ARN"])
def test_unknown_key(kms: Client, key: str, name: str) -> None:
    if name == "ARN":
        arn = kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata.arn
        name = arn.replace(key, "key-doesnotexist0000000000")
    expect_error("Forbidden.KeyNotFound", 404, lambda: encrypt(kms, name, b"x"))
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.generate_data_key(km.GenerateDataKeyRequest(key_id=name)),
    )
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest(key_id=name)
        ),
    )


@pytest.mark.parametrize("name", ["key-\x00abc", "alias/\x00", "\x00"])
def test_nul_in_key_id_is_invalid(kms: Client, name: str) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: encrypt(kms, name, b"x"))
    assert "KeyId" in exc.message


def test_missing_parameters(kms: Client, key: str) -> None:
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.encrypt(km.EncryptRequest(plaintext=b64(b"x")))
    )
    assert "KeyId" in exc.message
    expect_error("MissingParameter", 400, lambda: kms.encrypt(km.EncryptRequest(key_id=key)))
    exc = expect_error("MissingParameter", 400, lambda: kms.decrypt(km.DecryptRequest()))
    assert "CiphertextBlob" in exc.message
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.generate_data_key(km.GenerateDataKeyRequest())
    )
    assert "KeyId" in exc.message
    expect_error(
        "MissingParameter",
        400,
        lambda: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest()
        ),
    )
    blob = encrypt(kms, key, b"x").ciphertext_blob
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.re_encrypt(km.ReEncryptRequest(ciphertext_blob=blob))
    )
    assert "DestinationKeyId" in exc.message


@pytest.mark.parametrize("plaintext", ["not base64!", "QUJ", "QU JD", "é", "QUJD\n"])
def test_non_base64_plaintext(kms: Client, key: str, plaintext: str) -> None:
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.encrypt(km.EncryptRequest(key_id=key, plaintext=plaintext)),
    )
    assert "Plaintext" in exc.message


@pytest.mark.parametrize("context", [{"a": 1}, {"a": None}, {"a": {"b": "c"}}, {"a": ["b"]}])
def test_context_values_must_be_strings_new_sdk(
    kms: Client, key: str, context: dict[str, Any]
) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: encrypt(kms, key, b"x", context))
    assert "EncryptionContext" in exc.message
    blob = encrypt(kms, key, b"x").ciphertext_blob
    expect_error("InvalidParameter", 400, lambda: decrypt(kms, blob, context))
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.generate_data_key(
            km.GenerateDataKeyRequest(key_id=key, encryption_context=context)
        ),
    )


@pytest.mark.parametrize(
    "raw",
    [
        "[1,2]",
        '{"a":1}',
        "not json",
        '"a string"',
        "null",
        "42",
        '{"a":{"b":"c"}}',
        '{"a":"1"',
        '{"a":"\\u0000"}',
        "[" * 3000,  # deeper than the JSON parser's recursion limit
    ],
)
def test_context_must_be_a_json_object_of_strings_old_sdk(
    old: OldSdk, kms: Client, key: str, raw: str
) -> None:
    enc = EncryptRequest()
    enc.set_KeyId(key)
    enc.set_Plaintext(b64(b"x"))
    enc.set_EncryptionContext(raw)
    with pytest.raises(ServerException) as info:
        old.call(enc)
    assert info.value.get_error_code() == "InvalidParameter"
    assert info.value.get_http_status() == 400
    assert "EncryptionContext" in info.value.get_error_msg()

    dec = DecryptRequest()
    dec.set_CiphertextBlob(encrypt(kms, key, b"x").ciphertext_blob)
    dec.set_EncryptionContext(raw)
    with pytest.raises(ServerException) as info:
        old.call(dec)
    assert info.value.get_error_code() == "InvalidParameter"

    gen = GenerateDataKeyRequest()
    gen.set_KeyId(key)
    gen.set_EncryptionContext(raw)
    with pytest.raises(ServerException) as info:
        old.call(gen)
    assert info.value.get_error_code() == "InvalidParameter"


# --- Data keys ---------------------------------------------------------------------------------


def test_generate_data_key_default_is_32_bytes(kms: Client, key: str) -> None:
    body = kms.generate_data_key(km.GenerateDataKeyRequest(key_id=key)).body
    data_key = unb64(body.plaintext)
    assert len(data_key) == 32
    assert body.key_id == key
    raw = unb64(body.ciphertext_blob)
    assert raw[:VERSION_ID_LEN] == body.key_version_id.encode("ascii")
    assert len(raw) == VERSION_ID_LEN + IV_LEN + 32 + TAG_LEN
    dec = decrypt(kms, body.ciphertext_blob)
    assert unb64(dec.plaintext) == data_key
    assert dec.key_version_id == body.key_version_id


@pytest.mark.parametrize(
    ("spec", "number", "size"),
    [
        ("AES_128", None, 16),
        ("AES_256", None, 32),
        (None, 1, 1),
        (None, 1024, 1024),
        ("AES_128", 24, 24),
        ("AES_256", 7, 7),
    ],
)
def test_generate_data_key_sizes(
    kms: Client, key: str, spec: str | None, number: int | None, size: int
) -> None:
    context = {"purpose": "data key"}
    body = kms.generate_data_key(
        km.GenerateDataKeyRequest(
            key_id=key, key_spec=spec, number_of_bytes=number, encryption_context=context
        )
    ).body
    data_key = unb64(body.plaintext)
    assert len(data_key) == size
    assert len(unb64(body.ciphertext_blob)) == VERSION_ID_LEN + IV_LEN + size + TAG_LEN
    assert unb64(decrypt(kms, body.ciphertext_blob, context).plaintext) == data_key
    expect_error("InvalidParameter", 400, lambda: decrypt(kms, body.ciphertext_blob))


def test_data_keys_are_random(kms: Client, key: str) -> None:
    keys = {
        kms.generate_data_key(km.GenerateDataKeyRequest(key_id=key)).body.plaintext
        for _ in range(3)
    }
    assert len(keys) == 3


def test_generate_data_key_without_plaintext(kms: Client, key: str) -> None:
    context = {"tenant": "t-1"}
    body = kms.generate_data_key_without_plaintext(
        km.GenerateDataKeyWithoutPlaintextRequest(
            key_id=key, key_spec="AES_128", encryption_context=context
        )
    ).body
    assert body.key_id == key
    assert body.to_map().get("Plaintext") is None
    raw = unb64(body.ciphertext_blob)
    assert raw[:VERSION_ID_LEN] == body.key_version_id.encode("ascii")
    assert len(raw) == VERSION_ID_LEN + IV_LEN + 16 + TAG_LEN
    assert len(unb64(decrypt(kms, body.ciphertext_blob, context).plaintext)) == 16
    body = kms.generate_data_key_without_plaintext(
        km.GenerateDataKeyWithoutPlaintextRequest(key_id=key, number_of_bytes=100)
    ).body
    assert len(unb64(decrypt(kms, body.ciphertext_blob).plaintext)) == 100


@pytest.mark.parametrize(
    ("spec", "number", "param"),
    [
        (None, 0, "NumberOfBytes"),
        (None, 1025, "NumberOfBytes"),
        (None, -1, "NumberOfBytes"),
        ("AES_512", None, "KeySpec"),
        ("aes_256", None, "KeySpec"),
        ("Aliyun_AES_256", None, "KeySpec"),
    ],
)
def test_data_key_parameter_errors(
    kms: Client, key: str, spec: str | None, number: int | None, param: str
) -> None:
    for call in (
        lambda: kms.generate_data_key(
            km.GenerateDataKeyRequest(key_id=key, key_spec=spec, number_of_bytes=number)
        ),
        lambda: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest(
                key_id=key, key_spec=spec, number_of_bytes=number
            )
        ),
    ):
        exc = expect_error("InvalidParameter", 400, call)
        assert param in exc.message


# --- ReEncrypt ---------------------------------------------------------------------------------


def test_re_encrypt_moves_a_blob_to_the_destination_key(kms: Client, key: str) -> None:
    destination = new_key(kms, "Aliyun_SM4")
    source_ctx = {"from": "source"}
    dest_ctx = {"to": "destination ✓"}
    original = encrypt(kms, key, b"re-encrypt me", source_ctx)
    body = kms.re_encrypt(
        km.ReEncryptRequest(
            ciphertext_blob=original.ciphertext_blob,
            source_encryption_context=source_ctx,
            destination_key_id=destination,
            destination_encryption_context=dest_ctx,
        )
    ).body
    assert body.key_id == destination
    raw = unb64(body.ciphertext_blob)
    assert raw[:VERSION_ID_LEN] == body.key_version_id.encode("ascii")
    assert len(raw) == VERSION_ID_LEN + IV_LEN + len(b"re-encrypt me") + TAG_LEN
    dec = decrypt(kms, body.ciphertext_blob, dest_ctx)
    assert unb64(dec.plaintext) == b"re-encrypt me"
    assert dec.key_id == destination
    expect_error("InvalidParameter", 400, lambda: decrypt(kms, body.ciphertext_blob, source_ctx))
    expect_error("InvalidParameter", 400, lambda: decrypt(kms, body.ciphertext_blob))


def test_re_encrypt_a_data_key_blob_to_an_alias_without_contexts(kms: Client, key: str) -> None:
    destination = new_key(kms, "Aliyun_AES_128")
    alias = f"alias/reenc-{uuid.uuid4().hex[:12]}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=destination))
    gen = kms.generate_data_key(km.GenerateDataKeyRequest(key_id=key)).body
    body = kms.re_encrypt(
        km.ReEncryptRequest(ciphertext_blob=gen.ciphertext_blob, destination_key_id=alias)
    ).body
    assert body.key_id == destination
    assert decrypt(kms, body.ciphertext_blob).plaintext == gen.plaintext


def test_re_encrypt_with_the_wrong_source_context_fails(kms: Client, key: str) -> None:
    blob = encrypt(kms, key, b"guarded", {"a": "1"}).ciphertext_blob
    for wrong in ({"a": "2"}, None):
        exc = expect_error(
            "InvalidParameter",
            400,
            lambda wrong=wrong: kms.re_encrypt(
                km.ReEncryptRequest(
                    ciphertext_blob=blob,
                    source_encryption_context=wrong,
                    destination_key_id=key,
                )
            ),
        )
        assert "CiphertextBlob" in exc.message


def test_re_encrypt_errors(kms: Client, key: str) -> None:
    blob = encrypt(kms, key, b"x").ciphertext_blob
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.re_encrypt(
            km.ReEncryptRequest(ciphertext_blob=blob, destination_key_id="alias/nowhere-to-go")
        ),
    )
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.re_encrypt(
            km.ReEncryptRequest(ciphertext_blob="garbage!", destination_key_id=key)
        ),
    )
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.re_encrypt(
            km.ReEncryptRequest(
                ciphertext_blob=blob,
                destination_key_id=key,
                destination_encryption_context={"a": 1},
            )
        ),
    )


# --- Key states --------------------------------------------------------------------------------


def _all_crypto_calls(
    kms: Client, target: str, blob: str, other: str
) -> dict[str, Callable[[], Any]]:
    """Every symmetric operation that needs ``target`` usable (blob is sealed under target)."""
    return {
        "Encrypt": lambda: encrypt(kms, target, b"x"),
        "Decrypt": lambda: decrypt(kms, blob),
        "GenerateDataKey": lambda: kms.generate_data_key(km.GenerateDataKeyRequest(key_id=target)),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest(key_id=target)
        ),
        "ReEncrypt(source)": lambda: kms.re_encrypt(
            km.ReEncryptRequest(ciphertext_blob=blob, destination_key_id=other)
        ),
        "ReEncrypt(destination)": lambda: kms.re_encrypt(
            km.ReEncryptRequest(
                ciphertext_blob=encrypt(kms, other, b"y").ciphertext_blob,
                destination_key_id=target,
            )
        ),
    }


def test_disabled_key_rejects_every_operation_until_enabled(kms: Client, key: str) -> None:
    target = new_key(kms)
    blob = encrypt(kms, target, b"before").ciphertext_blob
    kms.disable_key(km.DisableKeyRequest(key_id=target))
    for name, call in _all_crypto_calls(kms, target, blob, key).items():
        exc = expect_error("Rejected.Disabled", 409, call)
        assert exc.code == "Rejected.Disabled", name
    kms.enable_key(km.EnableKeyRequest(key_id=target))
    assert unb64(decrypt(kms, blob).plaintext) == b"before"


def test_pending_deletion_key_rejects_every_operation(kms: Client, key: str) -> None:
    target = new_key(kms)
    blob = encrypt(kms, target, b"before").ciphertext_blob
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=target, pending_window_in_days=7)
    )
    for name, call in _all_crypto_calls(kms, target, blob, key).items():
        exc = expect_error("Rejected.PendingDeletion", 409, call)
        assert exc.code == "Rejected.PendingDeletion", name
    kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=target))
    assert unb64(decrypt(kms, blob).plaintext) == b"before"


def test_old_key_version_still_decrypts_after_rotation(kms: Client) -> None:
    target = new_key(kms)
    before = encrypt(kms, target, b"v1")
    kms.create_key_version(km.CreateKeyVersionRequest(key_id=target))
    after = encrypt(kms, target, b"v2")
    assert after.key_version_id != before.key_version_id
    dec = decrypt(kms, before.ciphertext_blob)
    assert (unb64(dec.plaintext), dec.key_version_id) == (b"v1", before.key_version_id)
    assert unb64(decrypt(kms, after.ciphertext_blob).plaintext) == b"v2"
