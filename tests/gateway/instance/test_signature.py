"""Requests signed by the official SDK's own signer (alibabacloud-dkms-gcs, in its venv) verify
with ``gateway/instance/signature``; every tampered input gets the documented error."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mamori.gateway.instance.errors import InstanceApiError, error_body
from mamori.gateway.instance.signature import (
    Claim,
    check_freshness,
    parse_date,
    read_claim,
    string_to_sign,
    verify,
)
from tests.gateway.instance.dkms import b64, run_sdk, unb64

KEY_ID = "KAAP.0b0c1a3e-7d51-4f4e-9a07-3c1f4c2b9e11"
VERSION_ID = "7c8f3a52-3b8e-4d5b-a1f1-1f0d3c2e9a77"


@dataclass(frozen=True)
class Sent:
    """One request as the SDK would put it on the wire."""

    method: str
    headers: dict[str, str]
    body: bytes
    sdk_string_to_sign: str

    def pairs(self, headers: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
        items = (self.headers if headers is None else headers).items()
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]

    def claim(self, headers: dict[str, str] | None = None, body: bytes | None = None) -> Claim:
        return read_claim(self.method, self.pairs(headers), self.body if body is None else body)


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sdk_request(python: Path, key: rsa.RSAPrivateKey, **call: Any) -> Sent:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    sent = run_sdk(python, "request", access_key_id=KEY_ID, private_key=pem, **call)
    assert (sent["method"], sent["pathname"], sent["query"]) == ("POST", "/", {})
    return Sent("POST", sent["headers"], unb64(sent["body"]), sent["string_to_sign"])


@pytest.fixture(scope="module")
def encrypt(dkms_python: Path, private_key: rsa.RSAPrivateKey) -> Sent:
    """An Encrypt as the transfer clients send it: with the migration header."""
    return _sdk_request(
        dkms_python,
        private_key,
        api="Encrypt",
        method="encrypt",
        args={"key_id": "key-hzz62f1cb66fa42qo", "plaintext": b64(b"secret"), "aad": b64(b"c")},
        bytes_args=["plaintext", "aad"],
        request_headers={"x-kms-migrationkeyversionid": VERSION_ID},
    )


@pytest.fixture(scope="module")
def random_empty(dkms_python: Path, private_key: rsa.RSAPrivateKey) -> Sent:
    """A GenerateRandom with every field at its default: an empty body."""
    return _sdk_request(dkms_python, private_key, api="GenerateRandom", method="generate_random")


def _verified(sent: Sent, key: rsa.RSAPrivateKey, **kw: Any) -> Claim:
    claim = sent.claim(**kw)
    check_freshness(claim, claim.date)
    verify(claim, key.public_key())
    return claim


def _code(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(InstanceApiError) as info:
        call()
    return info.value.code, info.value.status, info.value.message


def test_sdk_signed_encrypt_verifies(encrypt: Sent, private_key: rsa.RSAPrivateKey) -> None:
    claim = _verified(encrypt, private_key)
    assert claim.api_name == "Encrypt"
    assert claim.client_key_id == KEY_ID
    assert claim.migration_key_version_id == VERSION_ID
    assert claim.string_to_sign == encrypt.sdk_string_to_sign
    assert encrypt.headers["authorization"].startswith("Bearer ")
    assert encrypt.headers["content-sha256"] == hashlib.sha256(encrypt.body).hexdigest().upper()
    names = [name for name, _ in claim.kms_headers]
    assert names == sorted(names)
    assert "x-kms-migrationkeyversionid" in names and "x-kms-acccesskeyid" in names


def test_sdk_signed_empty_body_verifies(random_empty: Sent, private_key: rsa.RSAPrivateKey) -> None:
    assert random_empty.body == b""
    claim = _verified(random_empty, private_key)
    assert claim.api_name == "GenerateRandom" and claim.migration_key_version_id is None
    assert claim.string_to_sign == random_empty.sdk_string_to_sign


def test_string_to_sign_is_the_sdks_layout(encrypt: Sent) -> None:
    h = encrypt.headers
    kms = [(k, v) for k, v in h.items() if k.startswith("x-kms-")]
    built = string_to_sign("POST", h["content-sha256"], h["content-type"], h["date"], kms)
    assert built == encrypt.sdk_string_to_sign
    lines = built.split("\n")
    assert lines[:4] == ["POST", h["content-sha256"], "application/x-protobuf", h["date"]]
    assert lines[-1] == "/"  # no blank line before the resource


def test_go_style_header_names_and_the_docs_token_prefix_verify(
    encrypt: Sent, private_key: rsa.RSAPrivateKey
) -> None:
    # Go's net/http canonicalises names on the wire (X-Kms-Apiname); the signature used
    # lower case. Alibaba's docs write the scheme TOKEN; the SDKs send Bearer.
    headers = {
        "-".join(p.capitalize() for p in k.split("-")): v for k, v in encrypt.headers.items()
    }
    headers["Authorization"] = headers["Authorization"].replace("Bearer ", "TOKEN ", 1)
    assert _verified(encrypt, private_key, headers=headers).api_name == "Encrypt"


def _with(sent: Sent, **changes: str | None) -> dict[str, str]:
    headers = dict(sent.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


SIGNATURE = ("InvalidParam", 400, "The Param Authorization is invalid.")


def _absent(name: str) -> tuple[str, int, str]:
    return ("MissingParameter", 400, f"Parameter {name} does not exist in http header or body.")


DATE = ("InvalidParam", 400, "The Param Date is invalid.")
BODY = ("InvalidParam", 400, "The Param Content-SHA256 is invalid.")
METHOD = ("InvalidParam", 400, "The Param x-kms-signaturemethod is invalid.")
VERSION = ("InvalidApiVersion", 400, 'The ApiVersion "dkms-gcs-0.1" is invalid.')


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"x_kms_apiname": "Decrypt"}, SIGNATURE),
        ({"x_kms_acccesskeyid": "KAAP.someone-else"}, SIGNATURE),
        ({"x_kms_migrationkeyversionid": "00000000-0000-0000-0000-000000000000"}, SIGNATURE),
        ({"x_kms_migrationkeyversionid": None}, SIGNATURE),
        ({"x_kms_extra": "unsigned"}, SIGNATURE),
        ({"content_type": "application/octet-stream"}, SIGNATURE),
        ({"date": "Thu, 01 Jan 2026 00:00:00 GMT"}, SIGNATURE),
        ({"date": "Fri, 01 Jan 2026 00:00:00 GMT"}, DATE),  # weekday contradicts the date
        ({"date": "2026-01-01T00:00:00Z"}, DATE),
        ({"date": None}, _absent("Date")),
        ({"x_kms_apiversion": "dkms-gcs-0.1"}, VERSION),
        ({"x_kms_signaturemethod": "RSA_PSS_SHA_256"}, METHOD),
        ({"x_kms_acccesskeyid": None}, _absent("x-kms-acccesskeyid")),
        ({"x_kms_apiname": None}, _absent("x-kms-apiname")),
        ({"authorization": None}, _absent("Authorization")),
        ({"authorization": "Basic AAAA"}, SIGNATURE),
        ({"authorization": "Bearer not base64!"}, SIGNATURE),
        ({"authorization": "Bearer"}, SIGNATURE),
        ({"content_sha256": None}, _absent("Content-SHA256")),
    ],
)
def test_tampered_header_is_refused(
    encrypt: Sent,
    private_key: rsa.RSAPrivateKey,
    changes: dict[str, str | None],
    expected: tuple[str, int, str],
) -> None:
    headers = _with(encrypt, **changes)
    assert _code(lambda: _verified(encrypt, private_key, headers=headers)) == expected


def test_tampered_body_is_refused(encrypt: Sent, private_key: rsa.RSAPrivateKey) -> None:
    body = encrypt.body + b"\x00"
    assert _code(lambda: _verified(encrypt, private_key, body=body)) == BODY
    # The header made to match the new body is no longer the one that was signed.
    rehashed = _with(encrypt, content_sha256=hashlib.sha256(body).hexdigest().upper())
    assert _code(lambda: _verified(encrypt, private_key, headers=rehashed, body=body)) == SIGNATURE


def test_body_hash_in_another_spelling_is_refused(encrypt: Sent) -> None:
    lower = _with(encrypt, content_sha256=encrypt.headers["content-sha256"].lower())
    assert _code(lambda: encrypt.claim(lower)) == BODY


def test_a_signed_header_given_twice_is_refused(encrypt: Sent) -> None:
    pairs = [*encrypt.pairs(), (b"X-Kms-Apiname", b"Decrypt")]
    assert _code(lambda: read_claim("POST", pairs, encrypt.body)) == (
        "InvalidParam",
        400,
        "The Param x-kms-apiname is invalid.",
    )


def test_another_method_is_another_string(encrypt: Sent, private_key: rsa.RSAPrivateKey) -> None:
    claim = read_claim("PUT", encrypt.pairs(), encrypt.body)
    assert _code(lambda: verify(claim, private_key.public_key())) == SIGNATURE


def test_another_key_does_not_verify(encrypt: Sent) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _code(lambda: verify(encrypt.claim(), other.public_key())) == SIGNATURE


def test_the_docs_extra_newline_form_is_not_accepted(
    encrypt: Sent, private_key: rsa.RSAPrivateKey
) -> None:
    # Alibaba's docs put a blank line before "/"; no SDK does. One canonical form only.
    docs_form = encrypt.sdk_string_to_sign[:-1] + "\n/"
    signature = private_key.sign(docs_form.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = _with(encrypt, authorization="Bearer " + base64.b64encode(signature).decode())
    assert _code(lambda: _verified(encrypt, private_key, headers=headers)) == SIGNATURE


@pytest.mark.parametrize("skew", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_date_outside_the_window_is_refused(encrypt: Sent, skew: timedelta) -> None:
    claim = encrypt.claim()
    check_freshness(claim, claim.date + timedelta(minutes=15))
    assert _code(lambda: check_freshness(claim, claim.date + skew)) == DATE


@pytest.mark.parametrize(
    "value",
    [
        "Sat, 28 Nov 2026 21:08:00 UTC",
        "Sat, 28 Nov 2026 21:08:00 +0000",
        "Sat, 28 Nov 26 21:08:00 GMT",
        "sat, 28 Nov 2026 21:08:00 GMT",
        "Sat, 31 Nov 2026 21:08:00 GMT",
        "Sat,  28 Nov 2026 21:08:00 GMT",
        "",
    ],
)
def test_parse_date_accepts_only_the_sdk_form(value: str) -> None:
    assert _code(lambda: parse_date(value)) == DATE


def test_parse_date_reads_the_sdk_form() -> None:
    parsed = parse_date("Sat, 28 Nov 2026 21:08:00 GMT")
    assert (parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute) == (
        2026,
        11,
        28,
        21,
        8,
    )


def test_the_sdk_reads_our_error_body(dkms_python: Path) -> None:
    body = error_body(400, "InvalidParam", "The Param Date is invalid.", "req-1")
    assert run_sdk(dkms_python, "error", body=b64(body)) == {
        "Code": "InvalidParam",
        "Message": "The Param Date is invalid.",
        "RequestId": "req-1",
    }
