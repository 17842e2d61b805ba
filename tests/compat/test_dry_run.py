"""DryRun on the symmetric cryptographic actions, through the official new SDK: a request that
would succeed fails with DryRunOperationError, a bad one with ValidationError; neither runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.sdk import b64, expect_error

UNKNOWN = "key-doesnotexist0000000000"
CONTEXT = {"purpose": "dry run"}


def new_key(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


def seal(kms: Client, key: str) -> str:
    return str(
        kms.encrypt(
            km.EncryptRequest(key_id=key, plaintext=b64(b"dry"), encryption_context=CONTEXT)
        ).body.ciphertext_blob
    )


@pytest.fixture(scope="module")
def key(kms: Client) -> str:
    return new_key(kms)


@pytest.fixture(scope="module")
def blob(kms: Client, key: str) -> str:
    return seal(kms, key)


# Each action, given (client, key, blob sealed under that key) and a DryRun value.
def _encrypt(kms: Client, key: str, _blob: str, dry: str | None) -> Any:
    return kms.encrypt(
        km.EncryptRequest(key_id=key, plaintext=b64(b"x"), encryption_context=CONTEXT, dry_run=dry)
    )


def _decrypt(kms: Client, _key: str, blob: str, dry: str | None) -> Any:
    return kms.decrypt(
        km.DecryptRequest(ciphertext_blob=blob, encryption_context=CONTEXT, dry_run=dry)
    )


def _generate(kms: Client, key: str, _blob: str, dry: str | None) -> Any:
    return kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id=key, key_spec="AES_128", dry_run=dry)
    )


def _generate_without(kms: Client, key: str, _blob: str, dry: str | None) -> Any:
    return kms.generate_data_key_without_plaintext(
        km.GenerateDataKeyWithoutPlaintextRequest(key_id=key, number_of_bytes=64, dry_run=dry)
    )


def _re_encrypt(kms: Client, key: str, blob: str, dry: str | None) -> Any:
    return kms.re_encrypt(
        km.ReEncryptRequest(
            ciphertext_blob=blob,
            source_encryption_context=CONTEXT,
            destination_key_id=key,
            dry_run=dry,
        )
    )


ACTIONS = {
    "Encrypt": _encrypt,
    "Decrypt": _decrypt,
    "GenerateDataKey": _generate,
    "GenerateDataKeyWithoutPlaintext": _generate_without,
    "ReEncrypt": _re_encrypt,
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("dry", ["true", "True", "TRUE", " true "])
def test_would_succeed(kms: Client, key: str, blob: str, action: str, dry: str) -> None:
    exc = expect_error("DryRunOperationError", 400, lambda: ACTIONS[action](kms, key, blob, dry))
    assert "DryRun" in exc.message


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("dry", [None, "false", "False", "FALSE"])
def test_not_a_dry_run_executes(kms: Client, key: str, blob: str, action: str, dry: str) -> None:
    body = ACTIONS[action](kms, key, blob, dry).body
    assert body.key_id == key


@pytest.mark.parametrize("action", list(ACTIONS))
def test_unparseable_dry_run_flag_is_invalid(kms: Client, key: str, blob: str, action: str) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: ACTIONS[action](kms, key, blob, "yes"))
    assert "DryRun" in exc.message


@pytest.mark.parametrize("action", list(ACTIONS))
def test_disabled_key_is_a_validation_error(kms: Client, action: str) -> None:
    target = new_key(kms)
    sealed = seal(kms, target)
    kms.disable_key(km.DisableKeyRequest(key_id=target))
    exc = expect_error("ValidationError", 400, lambda: ACTIONS[action](kms, target, sealed, "true"))
    assert "Rejected.Disabled" in exc.message
    # Without DryRun the same request is the state error itself.
    expect_error("Rejected.Disabled", 409, lambda: ACTIONS[action](kms, target, sealed, None))


@pytest.mark.parametrize("action", list(ACTIONS))
def test_pending_deletion_key_is_a_validation_error(kms: Client, action: str) -> None:
    target = new_key(kms)
    sealed = seal(kms, target)
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=target, pending_window_in_days=7)
    )
    exc = expect_error("ValidationError", 400, lambda: ACTIONS[action](kms, target, sealed, "True"))
    assert "Rejected.PendingDeletion" in exc.message


def test_re_encrypt_with_a_disabled_source_is_a_validation_error(kms: Client, key: str) -> None:
    source = new_key(kms)
    sealed = seal(kms, source)
    kms.disable_key(km.DisableKeyRequest(key_id=source))
    exc = expect_error("ValidationError", 400, lambda: _re_encrypt(kms, key, sealed, "true"))
    assert "Rejected.Disabled" in exc.message


BAD_REQUESTS: dict[str, Callable[[Client, str, str], Any]] = {
    "Encrypt: unknown key": lambda kms, _k, _b: kms.encrypt(
        km.EncryptRequest(key_id=UNKNOWN, plaintext=b64(b"x"), dry_run="true")
    ),
    "Encrypt: no KeyId": lambda kms, _k, _b: kms.encrypt(
        km.EncryptRequest(plaintext=b64(b"x"), dry_run="true")
    ),
    "Encrypt: no Plaintext": lambda kms, k, _b: kms.encrypt(
        km.EncryptRequest(key_id=k, dry_run="true")
    ),
    "Encrypt: Plaintext not base64": lambda kms, k, _b: kms.encrypt(
        km.EncryptRequest(key_id=k, plaintext="not base64!", dry_run="true")
    ),
    "Encrypt: Plaintext too long": lambda kms, k, _b: kms.encrypt(
        km.EncryptRequest(key_id=k, plaintext=b64(b"x" * 6145), dry_run="true")
    ),
    "Encrypt: context not strings": lambda kms, k, _b: kms.encrypt(
        km.EncryptRequest(
            key_id=k, plaintext=b64(b"x"), encryption_context={"a": 1}, dry_run="true"
        )
    ),
    "Decrypt: blob not base64": lambda kms, _k, _b: kms.decrypt(
        km.DecryptRequest(ciphertext_blob="garbage!", dry_run="true")
    ),
    "Decrypt: blob too short": lambda kms, _k, _b: kms.decrypt(
        km.DecryptRequest(ciphertext_blob=b64(b"x" * 40), dry_run="true")
    ),
    "Decrypt: no blob": lambda kms, _k, _b: kms.decrypt(km.DecryptRequest(dry_run="true")),
    "GenerateDataKey: NumberOfBytes 0": lambda kms, k, _b: kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id=k, number_of_bytes=0, dry_run="true")
    ),
    "GenerateDataKey: NumberOfBytes 1025": lambda kms, k, _b: kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id=k, number_of_bytes=1025, dry_run="true")
    ),
    "GenerateDataKey: KeySpec AES_512": lambda kms, k, _b: kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id=k, key_spec="AES_512", dry_run="true")
    ),
    "GenerateDataKey: unknown alias": lambda kms, _k, _b: kms.generate_data_key(
        km.GenerateDataKeyRequest(key_id="alias/no-such-dry-run", dry_run="true")
    ),
    "GenerateDataKeyWithoutPlaintext: KeySpec AES_512": (
        lambda kms, k, _b: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest(key_id=k, key_spec="AES_512", dry_run="true")
        )
    ),
    "GenerateDataKeyWithoutPlaintext: no KeyId": (
        lambda kms, _k, _b: kms.generate_data_key_without_plaintext(
            km.GenerateDataKeyWithoutPlaintextRequest(dry_run="true")
        )
    ),
    "ReEncrypt: unknown destination": lambda kms, _k, b: kms.re_encrypt(
        km.ReEncryptRequest(ciphertext_blob=b, destination_key_id=UNKNOWN, dry_run="true")
    ),
    "ReEncrypt: no destination": lambda kms, _k, b: kms.re_encrypt(
        km.ReEncryptRequest(ciphertext_blob=b, dry_run="true")
    ),
    "ReEncrypt: blob not base64": lambda kms, k, _b: kms.re_encrypt(
        km.ReEncryptRequest(ciphertext_blob="garbage!", destination_key_id=k, dry_run="true")
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_a_validation_error(kms: Client, key: str, blob: str, case: str) -> None:
    expect_error("ValidationError", 400, lambda: BAD_REQUESTS[case](kms, key, blob))
