"""Helpers for the asymmetric tests: keys by spec, digests, and the independent checkers
(``cryptography`` and the ``openssl`` command) that prove Mamori's outputs are standard."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from cryptography.hazmat.primitives import hashes

# GB/T 32918.5 curve parameters, for Z(A); SM2DSA signs SM3(Z(A) ‖ M) (spec §7.4).
_SM2_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_SM2_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_SM2_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_SM2_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
SM2_DEFAULT_ID = b"1234567812345678"

# Every (spec, algorithm) the tests drive; issue 5's list plus RSA_4096 and EC_ED25519.
SIGNING = [
    ("RSA_2048", "RSA_PSS_SHA_256"),
    ("RSA_2048", "RSA_PKCS1_SHA_256"),
    ("RSA_3072", "RSA_PSS_SHA_256"),
    ("RSA_3072", "RSA_PKCS1_SHA_256"),
    ("RSA_4096", "RSA_PSS_SHA_256"),
    ("RSA_4096", "RSA_PKCS1_SHA_256"),
    ("EC_P256", "ECDSA_SHA_256"),
    ("EC_P256K", "ECDSA_SHA_256"),
    ("EC_SM2", "SM2DSA"),
    ("EC_ED25519", "ED25519"),
]
# (spec, algorithm, the largest plaintext it takes)
ENCRYPTION = [
    ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
    ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
    ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
    ("EC_SM2", "SM2PKE", 255),
]


def create_key(kms: Client, spec: str, usage: str | None = None) -> tuple[str, str]:
    """A new key of ``spec``; returns (key id, its primary version id)."""
    meta = kms.create_key(km.CreateKeyRequest(key_spec=spec, key_usage=usage)).body.key_metadata
    return str(meta.key_id), str(meta.primary_key_version)


def public_pem(kms: Client, key: str, version: str) -> str:
    """GetPublicKey's PEM."""
    body = kms.get_public_key(km.GetPublicKeyRequest(key_id=key, key_version_id=version)).body
    assert (body.key_id, body.key_version_id) == (key, version)
    return str(body.public_key)


def sm3(data: bytes) -> bytes:
    """SM3, from ``cryptography``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm2_digest(spki_der: bytes, message: bytes, uid: bytes = SM2_DEFAULT_ID) -> bytes:
    """e = SM3(Z(A) ‖ M) for the public key in SubjectPublicKeyInfo DER (its last 64 bytes)."""
    point = spki_der[-64:]
    z = sm3((len(uid) * 8).to_bytes(2, "big") + uid + _SM2_A + _SM2_B + _SM2_GX + _SM2_GY + point)
    return sm3(z + message)


def digest_for(spec: str, spki_der: bytes, message: bytes) -> bytes:
    """What AsymmetricSign takes for ``message``: SHA-256, SM3(Z ‖ M), or the message itself
    for Ed25519 (a Mamori extension that signs the bytes given)."""
    if spec == "EC_SM2":
        return sm2_digest(spki_der, message)
    if spec == "EC_ED25519":
        return message
    return hashlib.sha256(message).digest()


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the ``openssl`` command (OpenSSL 3, independent of the server's libraries)."""
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


def openssl_verifies(
    tmp: Path, spec: str, algorithm: str, pem: str, message: bytes, signature: bytes
) -> bool:
    """Whether ``openssl`` accepts the signature over ``message`` with the public key."""
    (tmp / "pub.pem").write_text(pem)
    (tmp / "msg").write_bytes(message)
    (tmp / "sig").write_bytes(signature)
    base = ["-verify", "-pubin", "-inkey", str(tmp / "pub.pem"), "-in", str(tmp / "msg")]
    base += ["-sigfile", str(tmp / "sig")]
    if spec == "EC_SM2":
        opts = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    elif spec == "EC_ED25519":
        opts = ["-rawin"]
    else:
        opts = ["-rawin", "-digest", "sha256"]
        if algorithm == "RSA_PSS_SHA_256":
            opts += ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:auto"]
    result = openssl("pkeyutl", *base, *opts)
    return result.returncode == 0 and b"Signature Verified Successfully" in result.stdout


def openssl_encrypt(tmp: Path, algorithm: str, pem: str, plaintext: bytes) -> bytes:
    """Encrypt to the public key with ``openssl pkeyutl``."""
    (tmp / "pub.pem").write_text(pem)
    opts: list[str] = []
    if algorithm.startswith("RSAES_OAEP"):
        md = "sha256" if algorithm.endswith("256") else "sha1"
        opts = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}"]
        opts += ["-pkeyopt", f"rsa_mgf1_md:{md}"]
    result = openssl(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp / "pub.pem"), *opts, data=plaintext
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
