"""Client keys as the official SDKs load them: the PKCS#12's layout (read by OpenSSL), the
ClientKeyContent document opened and used for signing by alibabacloud-dkms-gcs itself."""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mamori.crypto.client_key import (
    ClientKeyPublic,
    IssuedClientKey,
    MalformedClientKey,
    issue_client_key,
    load_client_key_content,
    new_key_id,
)
from mamori.gateway.instance.signature import check_freshness, read_claim, verify
from tests.gateway.instance.dkms import b64, dkms_python, run_sdk, unb64

__all__ = ["dkms_python"]  # the fixture, imported for use here

PASSWORD = "Mamori-Client-Key_8!"
NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def issued() -> IssuedClientKey:
    return issue_client_key(new_key_id(), PASSWORD, NOT_BEFORE, NOT_AFTER)


def _pkcs12(issued: IssuedClientKey) -> bytes:
    return base64.b64decode(json.loads(issued.content)["PrivateKeyData"])


def test_document_has_exactly_the_fields_the_sdks_read(issued: IssuedClientKey) -> None:
    document = json.loads(issued.content)
    assert set(document) == {"KeyId", "PrivateKeyData"}
    assert document["KeyId"] == issued.public.key_id
    assert document["KeyId"].startswith("KAAP.")
    assert document["PrivateKeyData"].startswith("MII")  # DER SEQUENCE, as real ones


def test_public_half_matches_the_private_key(issued: IssuedClientKey) -> None:
    loaded = load_client_key_content(issued.content, PASSWORD)
    assert loaded.key_id == issued.public.key_id
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert loaded.private_key.public_key().public_bytes(*spki) == (
        issued.public.public_key().public_bytes(*spki)
    )
    assert loaded.private_key.key_size == 2048
    cert = issued.public.certificate
    assert cert.subject.rfc4514_string() == f"CN={issued.public.key_id}"
    assert (issued.public.not_before, issued.public.not_after) == (NOT_BEFORE, NOT_AFTER)
    assert issued.public.valid_at(NOT_BEFORE) and issued.public.valid_at(NOT_AFTER)
    assert not issued.public.valid_at(NOT_AFTER + timedelta(seconds=1))
    assert not issued.public.valid_at(NOT_BEFORE - timedelta(seconds=1))


def test_the_server_side_half_holds_no_private_key(issued: IssuedClientKey) -> None:
    public = ClientKeyPublic(issued.public.key_id, issued.public.certificate_der)
    assert public == issued.public
    assert b"PRIVATE" not in issued.public.certificate_der
    assert "content" not in repr(issued) and issued.content not in repr(issued)
    with pytest.raises(TypeError):
        pickle.dumps(issued)


def test_wrong_password_or_garbage_is_malformed(issued: IssuedClientKey) -> None:
    with pytest.raises(MalformedClientKey):
        load_client_key_content(issued.content, PASSWORD + "x")
    for content in ("", "{}", '{"KeyId": "KAAP.x", "PrivateKeyData": "!!"}', "[]"):
        with pytest.raises(MalformedClientKey):
            load_client_key_content(content, PASSWORD)


@pytest.mark.parametrize(
    ("key_id", "password", "not_before", "not_after"),
    [
        ("key-1", PASSWORD, NOT_BEFORE, NOT_AFTER),
        ("KAAP.x", "pässwort-1234", NOT_BEFORE, NOT_AFTER),
        ("KAAP.x", "", NOT_BEFORE, NOT_AFTER),
        ("KAAP.x", PASSWORD, NOT_AFTER, NOT_BEFORE),
        ("KAAP.x", PASSWORD, datetime(2026, 1, 1), NOT_AFTER),
    ],
)
def test_bad_issue_arguments_are_refused(
    key_id: str, password: str, not_before: datetime, not_after: datetime
) -> None:
    with pytest.raises(ValueError):
        issue_client_key(key_id, password, not_before, not_after)


def _openssl_info(p12: Path, *extra: str) -> list[str]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is not installed")
        pytest.skip("openssl is not installed")
    proc = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-info", "-noout", "-passin", "env:P12PASS", *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "P12PASS": PASSWORD},
        check=True,
    )
    # openssl prints the -info lines on stderr.
    return [line for line in (proc.stderr + proc.stdout).splitlines() if line]


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "default-provider"])
def test_openssl_reads_cert_bag_then_key_bag_3des_sha1_mac(
    issued: IssuedClientKey, tmp_path: Path, legacy: bool
) -> None:
    p12 = tmp_path / "client.p12"
    p12.write_bytes(_pkcs12(issued))
    lines = _openssl_info(p12, *(["-legacy"] if legacy else []))
    assert lines == [
        "MAC: sha1, Iteration 2048",
        "MAC length: 20, salt length: 8",
        "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
        "Certificate bag",
        "PKCS7 Data",
        "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
    ]


def test_pyopenssl_in_the_sdk_reads_it(dkms_python: Path, issued: IssuedClientKey) -> None:
    # load_pkcs12 is what the SDK calls; pyOpenSSL >= 23.3 no longer has it, so only the SDK's
    # own venv (pyOpenSSL 23.2) can run it.
    read = run_sdk(dkms_python, "pkcs12", pkcs12=b64(_pkcs12(issued)), password=PASSWORD)
    assert read == {
        "friendly_name": issued.public.key_id,
        "subject_cn": issued.public.key_id,
        "cert_count_extra": 0,
        "key_bits": 2048,
    }


def test_the_sdk_loads_the_document_and_its_signature_verifies(
    dkms_python: Path, issued: IssuedClientKey
) -> None:
    sent = run_sdk(
        dkms_python,
        "request",
        client_key_content=issued.content,
        password=PASSWORD,
        api="GetSecretValue",
        method="get_secret_value",
        args={"secret_name": "db-password", "version_stage": "ACSCurrent"},
    )
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent["headers"].items()]
    claim = read_claim(sent["method"], pairs, unb64(sent["body"]))
    assert claim.client_key_id == issued.public.key_id
    assert claim.api_name == "GetSecretValue"
    check_freshness(claim, datetime.now(UTC))
    verify(claim, issued.public.public_key())
