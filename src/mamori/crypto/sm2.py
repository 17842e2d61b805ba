"""SM2 (GB/T 32918) through GmSSL's C implementation (the ``gmssl-pyx`` binding): signatures over
an SM3 digest, SM2PKE encryption, and the key encodings Mamori stores and publishes.

``cryptography`` has no SM2 curve, so this module is the one place another library does
curve arithmetic. Stored private material layout (96 bytes)::

    offset  size  field
    0       32    private scalar d, big-endian
    32      32    public point X, big-endian
    64      32    public point Y, big-endian

Public keys travel as SubjectPublicKeyInfo DER with id-ecPublicKey and the SM2 curve OID
(1.2.156.10197.1.301), the form OpenSSL and Alibaba's GetPublicKey use. Signatures and
ciphertexts are ASN.1 DER (GM/T 0009: ciphertext is C1 x, C1 y, C3 hash, C2).
"""

from __future__ import annotations

from typing import Final

import gmssl_pyx

from mamori.crypto.material import KeyMaterial

PRIVATE_BYTES: Final = 32
POINT_BYTES: Final = 64
MATERIAL_BYTES: Final = PRIVATE_BYTES + POINT_BYTES
# GmSSL's SM2_MAX_PLAINTEXT_SIZE; Alibaba documents 6047 bytes (see docs/keys.md).
MAX_PLAINTEXT: Final = 255
# SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING (0 unused bits, 0x04 ‖ X ‖ Y) }
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
SPKI_BYTES: Final = len(_SPKI_PREFIX) + POINT_BYTES


class Sm2Error(ValueError):
    """SM2 input the library refuses: a bad key, digest, signature or ciphertext."""


def generate() -> KeyMaterial:
    """A fresh SM2 key pair in the stored layout."""
    public, private = gmssl_pyx.sm2_key_generate()
    return KeyMaterial(bytes(private) + bytes(public))


def spki_der(point: bytes) -> bytes:
    """SubjectPublicKeyInfo DER for a 64-byte public point."""
    if len(point) != POINT_BYTES:
        raise Sm2Error("an SM2 public point is 64 bytes")
    return _SPKI_PREFIX + point


def point_from_spki(der: bytes) -> bytes:
    """The 64-byte public point of SM2 SubjectPublicKeyInfo DER."""
    if len(der) != SPKI_BYTES or not der.startswith(_SPKI_PREFIX):
        raise Sm2Error("not an SM2 SubjectPublicKeyInfo")
    point = der[len(_SPKI_PREFIX) :]
    # A point off the curve would only fail later, inside encryption; refuse it here.
    try:
        gmssl_pyx.normalize_sm2_public_key(point)
    except gmssl_pyx.GmsslInnerError as exc:
        raise Sm2Error("the public point is not on the SM2 curve") from exc
    return point


class Sm2PrivateKey:
    """One SM2 key pair from stored material."""

    __slots__ = ("_private", "point")

    def __init__(self, material: KeyMaterial) -> None:
        raw = material.reveal()
        if len(raw) != MATERIAL_BYTES:
            raise Sm2Error("SM2 material is 96 bytes")
        self._private = raw[:PRIVATE_BYTES]
        self.point = raw[PRIVATE_BYTES:]

    def __repr__(self) -> str:
        return "<Sm2PrivateKey redacted>"

    def sign_digest(self, digest: bytes) -> bytes:
        """DER signature over e = SM3(Z ‖ M), computed by the caller."""
        try:
            return bytes(gmssl_pyx.sm2_sign_sm3_digest(self._private, digest))
        except gmssl_pyx.GmsslInnerError as exc:
            raise Sm2Error("cannot sign") from exc

    def sign_message(self, message: bytes) -> bytes:
        """DER signature over the message itself: GmSSL computes SM3(Z ‖ M) with the default
        signer id (certificate requests, CertificatePrivateKeySign with MessageType=RAW)."""
        try:
            return bytes(gmssl_pyx.sm2_sign(self._private, self.point, message))
        except gmssl_pyx.GmsslInnerError as exc:
            raise Sm2Error("cannot sign") from exc

    def decrypt(self, ciphertext: bytes) -> bytes:
        """SM2PKE decryption of DER ciphertext."""
        try:
            return bytes(gmssl_pyx.sm2_decrypt(self._private, ciphertext))
        except gmssl_pyx.GmsslInnerError as exc:
            raise Sm2Error("cannot decrypt") from exc


def verify_digest(point: bytes, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) is valid for ``digest`` under the public point."""
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(point, digest, signature))
    except gmssl_pyx.GmsslInnerError:
        return False


def verify_message(point: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) is valid for the message itself (SM3(Z ‖ M), default id)."""
    try:
        return bool(gmssl_pyx.sm2_verify(point, message, signature))
    except gmssl_pyx.GmsslInnerError:
        return False


def encrypt(point: bytes, plaintext: bytes) -> bytes:
    """SM2PKE encryption to the public point; DER ciphertext."""
    if not 1 <= len(plaintext) <= MAX_PLAINTEXT:
        raise Sm2Error(f"SM2PKE takes 1 to {MAX_PLAINTEXT} bytes")
    try:
        return bytes(gmssl_pyx.sm2_encrypt(point, plaintext))
    except gmssl_pyx.GmsslInnerError as exc:
        raise Sm2Error("cannot encrypt") from exc
