"""Which PKCS#11 mechanism runs each KMS algorithm, and the templates token keys are made with.

The one place the KMS names (``crypto.specs``) meet PKCS#11's: token keys, the capability probe
and ``docs/hsm.md`` all follow these tables.
"""

from __future__ import annotations

from typing import Any, Final

from asn1crypto.algos import DigestInfo
from cryptography.hazmat.primitives.asymmetric import utils
from pkcs11 import MGF, Attribute, Mechanism

# Salt as long as the digest: what the software keys sign with (crypto/asymmetric.py).
SIGN: Final[dict[str, tuple[Mechanism, Any]]] = {
    "RSA_PSS_SHA_256": (Mechanism.RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32)),
    # The token pads; the DigestInfo around the digest comes from ``sign_input``.
    "RSA_PKCS1_SHA_256": (Mechanism.RSA_PKCS, None),
    "ECDSA_SHA_256": (Mechanism.ECDSA, None),
}
DECRYPT: Final[dict[str, tuple[Mechanism, Any]]] = {
    "RSAES_OAEP_SHA_256": (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA256, MGF.SHA256, None)),
    "RSAES_OAEP_SHA_1": (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None)),
}
# HMAC_SM3 is absent: PKCS#11 (up to 3.1) defines no SM3 mechanism.
HMAC: Final[dict[str, Mechanism]] = {
    "HMAC_SHA_224": Mechanism.SHA224_HMAC,
    "HMAC_SHA_256": Mechanism.SHA256_HMAC,
    "HMAC_SHA_384": Mechanism.SHA384_HMAC,
    "HMAC_SHA_512": Mechanism.SHA512_HMAC,
}
# Named curves by key spec. EC_SM2 is absent: PKCS#11 has no SM2 mechanisms.
CURVES: Final[dict[str, str]] = {"EC_P256": "secp256r1", "EC_P256K": "secp256k1"}

# Persistent, private, sensitive and never extractable; nothing may unwrap into it or derive
# from it, and these attributes cannot change later. Each key gets only the operations its
# usage needs (PKCS#11 gives private keys no encrypt/verify/wrap attributes at all).
_SECRET: Final[dict[Attribute, Any]] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}


def private_template(*, sign: bool, decrypt: bool, store: bool = True) -> dict[Attribute, Any]:
    """The private half of a key pair (``store=False``: a session object, for the probe)."""
    return {**_SECRET, Attribute.TOKEN: store, Attribute.SIGN: sign, Attribute.DECRYPT: decrypt}


def public_template(*, sign: bool, decrypt: bool, store: bool = True) -> dict[Attribute, Any]:
    """The public half of a key pair: read for GetPublicKey, verify/encrypt run in Mamori."""
    return {
        Attribute.TOKEN: store,
        Attribute.PRIVATE: False,
        Attribute.MODIFIABLE: False,
        Attribute.WRAP: False,
        Attribute.DERIVE: False,
        Attribute.VERIFY: sign,
        Attribute.ENCRYPT: decrypt,
    }


def hmac_template() -> dict[Attribute, Any]:
    """An HMAC key: a generic secret that can only make and check MACs."""
    return {
        **_SECRET,
        Attribute.WRAP: False,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.SIGN: True,
        Attribute.VERIFY: True,
    }


def sign_input(algorithm: str, digest: bytes) -> bytes:
    """What the token signs for ``algorithm``: the digest, or for PKCS#1 v1.5 the DigestInfo
    that ``CKM_RSA_PKCS`` pads (RFC 8017 §9.2; SHA-256 with NULL parameters, as ``cryptography``
    encodes it)."""
    if algorithm != "RSA_PKCS1_SHA_256":
        return digest
    # asn1crypto writes the NULL parameters itself when none are given.
    info = {"digest_algorithm": {"algorithm": "sha256"}, "digest": digest}
    return bytes(DigestInfo(info).dump())


def signature(algorithm: str, raw: bytes) -> bytes:
    """The token's signature in the software keys' format: PKCS#11 ECDSA answers r ‖ s, KMS
    answers DER."""
    if algorithm != "ECDSA_SHA_256":
        return raw
    half = len(raw) // 2
    return utils.encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )
