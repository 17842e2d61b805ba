"""Regenerate instance_signatures.json with the official alibabacloud-dkms-gcs SDK (run by hand,
not by the tests).

    PYTHONPATH=. .venv/bin/python tests/vectors/make_instance_signature_vectors.py

The SDK runs in its own venv (``.venv-dkms``, built on first use; it pins protobuf<4 and
pyopenssl<23.3). Its real client builds and signs each request; the request is captured where
Tea would send it. Only the SDK's clock is pinned, so the file is reproducible. The RSA key is
fixed in the file and fake: it exists only for these vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.gateway.instance.dkms import REQUIREMENTS, b64, run_sdk
from tests.own_venv import build_venv

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("instance_signatures.json")
KEY_ID = "KAAP.00000000-1111-4222-8333-444444444444"
DATE = "Fri, 02 Jan 2026 03:04:05 GMT"

CALLS: list[dict[str, Any]] = [
    {
        "name": "encrypt-with-migration-header",
        "api": "Encrypt",
        "method": "encrypt",
        "args": {"key_id": "key-hzz62f1cb66fa42qo", "plaintext": b64(b"hello"), "aad": b64(b"c")},
        "bytes_args": ["plaintext", "aad"],
        "request_headers": {"x-kms-migrationkeyversionid": "7c8f3a52-3b8e-4d5b-a1f1-1f0d3c2e9a77"},
    },
    {"name": "generate-random-empty-body", "api": "GenerateRandom", "method": "generate_random"},
    {
        "name": "get-secret-value-unicode",
        "api": "GetSecretValue",
        "method": "get_secret_value",
        "args": {"secret_name": "数据库/密码 é", "version_stage": "ACSCurrent"},
    },
    {
        "name": "decrypt-caller-header-with-spaces",
        "api": "Decrypt",
        "method": "decrypt",
        "args": {"ciphertext_blob": b64(b"\x00" * 28), "iv": b64(b"\x01" * 12)},
        "bytes_args": ["ciphertext_blob", "iv"],
        # Signed stripped ("x-kms-custom:v"), sent as given.
        "request_headers": {"x-kms-custom": "  v  "},
    },
]


def main() -> None:
    python = build_venv(ROOT / ".venv-dkms", REQUIREMENTS)
    # Keep the key across regenerations so a diff shows only what the SDK changed.
    if OUT.is_file():
        pem = json.loads(OUT.read_text())["private_key_pem"].encode()
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    vectors = []
    for call in CALLS:
        name = call["name"]
        args = {k: v for k, v in call.items() if k != "name"}
        sent = run_sdk(
            python, "request", access_key_id=KEY_ID, private_key=pem_text, date=DATE, **args
        )
        vectors.append(
            {
                "name": name,
                "method": sent["method"],
                "headers": sent["headers"],
                "body": sent["body"],
                "sdk_string_to_sign": sent["string_to_sign"],
            }
        )
    document = {
        "generated_by": " ".join(REQUIREMENTS) + " (Python 3.11, its own venv)",
        "client_key_id": KEY_ID,
        "date": DATE,
        "private_key_pem": pem_text,
        "public_key_pem": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "vectors": vectors,
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
