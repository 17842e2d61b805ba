"""Known-answer vectors from the official SDK (tests/vectors/instance_signatures.json): the same
checks as test_signature.py, but without building the SDK's venv."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from mamori.gateway.instance.signature import check_freshness, parse_date, read_claim, verify

FILE = Path(__file__).parents[2] / "vectors" / "instance_signatures.json"
DOCUMENT: dict[str, Any] = json.loads(FILE.read_text())


def _public_key() -> rsa.RSAPublicKey:
    key = load_pem_public_key(DOCUMENT["public_key_pem"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@pytest.mark.parametrize("vector", DOCUMENT["vectors"], ids=lambda v: v["name"])
def test_official_sdk_vector_verifies(vector: dict[str, Any]) -> None:
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in vector["headers"].items()]
    claim = read_claim(vector["method"], pairs, base64.b64decode(vector["body"]))
    assert claim.string_to_sign == vector["sdk_string_to_sign"]
    assert claim.client_key_id == DOCUMENT["client_key_id"]
    check_freshness(claim, parse_date(DOCUMENT["date"]))
    verify(claim, _public_key())


def test_vectors_cover_the_cases_that_matter() -> None:
    names = {v["name"] for v in DOCUMENT["vectors"]}
    assert {
        "encrypt-with-migration-header",
        "generate-random-empty-body",
        "get-secret-value-unicode",
        "decrypt-caller-header-with-spaces",
    } <= names
    spaced = next(v for v in DOCUMENT["vectors"] if v["name"].endswith("with-spaces"))
    assert "\nx-kms-custom:v\n" in spaced["sdk_string_to_sign"]
