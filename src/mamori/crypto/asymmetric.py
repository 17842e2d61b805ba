"""Asymmetric keys: generation, the stored private-key encoding, signatures over digests,
RSA-OAEP and SM2PKE encryption, and public keys in PEM.

Stored material is PKCS#8 DER for RSA, ECDSA and Ed25519 keys, and the 96-byte layout of
``crypto/sm2.py`` for SM2. Signatures are raw PKCS#1 v1.5 / PSS bytes for RSA, ASN.1 DER
(r, s) for ECDSA and SM2, and the 64-byte RFC 8032 form for Ed25519. PSS uses MGF1-SHA-256 and
a salt as long as the digest (32 bytes), which is what verifiers assume by default for
RSA_PSS_SHA_256; verification accepts any salt length.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from mamori.crypto import sm2
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import Family, KeySpec

_CURVES: Final[dict[str, ec.EllipticCurve]] = {
    "EC_P256": ec.SECP256R1(),
    "EC_P256K": ec.SECP256K1(),
}
_OAEP_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSAES_OAEP_SHA_1": hashes.SHA1,
}
_PKCS8 = serialization.PrivateFormat.PKCS8
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


class UnsupportedKey(ValueError):
    """A public key blob that is not a key of the expected spec."""


def generate(spec: KeySpec) -> KeyMaterial:
    """Fresh private key material for an asymmetric spec."""
    if spec.family is Family.SM2:
        return sm2.generate()
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if spec.family is Family.RSA:
        key = rsa.generate_private_key(65537, spec.rsa_bits)
    elif spec.family is Family.EC:
        key = ec.generate_private_key(_CURVES[spec.name])
    elif spec.family is Family.ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"{spec.name} is not an asymmetric spec")
    return KeyMaterial(key.private_bytes(_DER, _PKCS8, serialization.NoEncryption()))


def oaep(algorithm: str) -> padding.OAEP:
    """The OAEP padding of ``RSAES_OAEP_SHA_256`` or ``RSAES_OAEP_SHA_1`` (MGF1 with the same
    hash, no label)."""
    digest = _OAEP_HASHES[algorithm]
    return padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def _sha256(message: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(message)
    return digest.finalize()


def max_plaintext(spec: KeySpec, algorithm: str) -> int:
    """The largest plaintext ``algorithm`` encrypts under a key of ``spec``."""
    if spec.family is Family.SM2:
        return sm2.MAX_PLAINTEXT
    # RFC 8017 §7.1.1: k - 2·hLen - 2.
    return spec.rsa_bits // 8 - 2 * _OAEP_HASHES[algorithm]().digest_size - 2


class PublicKey:
    """A public key of a known spec: verify and encrypt, as any outside party could."""

    __slots__ = ("_key", "_point", "spec")

    def __init__(self, spec: KeySpec, der: bytes) -> None:
        """Load SubjectPublicKeyInfo DER; raises ``UnsupportedKey`` if it is not of ``spec``."""
        self.spec = spec
        self._point = b""
        self._key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | None
        self._key = None
        if spec.family is Family.SM2:
            try:
                self._point = sm2.point_from_spki(der)
            except sm2.Sm2Error as exc:
                raise UnsupportedKey(str(exc)) from None
            return
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError) as exc:
            raise UnsupportedKey("not a DER public key") from exc
        if spec.family is Family.RSA:
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size != spec.rsa_bits:
                raise UnsupportedKey(f"not an {spec.name} public key")
        elif spec.family is Family.EC:
            if not isinstance(key, ec.EllipticCurvePublicKey) or (
                key.curve.name != _CURVES[spec.name].name
            ):
                raise UnsupportedKey(f"not an {spec.name} public key")
        elif not isinstance(key, ed25519.Ed25519PublicKey):
            raise UnsupportedKey(f"not an {spec.name} public key")
        self._key = key

    def der(self) -> bytes:
        """SubjectPublicKeyInfo DER."""
        if self._key is None:
            return sm2.spki_der(self._point)
        return self._key.public_bytes(_DER, _SPKI)

    def pem(self) -> str:
        """SubjectPublicKeyInfo PEM, as GetPublicKey returns it."""
        return _pem(self.der())

    def verify(self, algorithm: str, digest: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is valid for ``digest`` under ``algorithm``."""
        key = self._key
        try:
            if key is None:
                return sm2.verify_digest(self._point, digest, signature)
            if isinstance(key, rsa.RSAPublicKey):
                pad: padding.AsymmetricPadding = (
                    padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
                    if algorithm == "RSA_PSS_SHA_256"
                    else padding.PKCS1v15()
                )
                key.verify(signature, digest, pad, utils.Prehashed(hashes.SHA256()))
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            else:
                key.verify(signature, digest)
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify_message(self, algorithm: str, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is valid for the message itself: SHA-256 of it, or for SM2DSA
        SM3(Z ‖ M) with the default signer id."""
        if self._key is None:
            return sm2.verify_message(self._point, message, signature)
        return self.verify(algorithm, _sha256(message), signature)

    def encrypt(self, algorithm: str, plaintext: bytes) -> bytes:
        """RSA-OAEP or SM2PKE encryption to this key; ``ValueError`` if it is too long."""
        if self._key is None:
            return sm2.encrypt(self._point, plaintext)
        if not isinstance(self._key, rsa.RSAPublicKey):
            raise ValueError(f"{self.spec.name} keys cannot encrypt")
        return self._key.encrypt(plaintext, oaep(algorithm))


class AsymmetricKey(ABC):
    """The private half of an asymmetric key version, wherever it lives: in this process
    (``PrivateKey``) or in a PKCS#11 token (``mamori.hsm``). Its public half is always here:
    verifying and encrypting need nothing secret."""

    __slots__ = ()

    spec: KeySpec
    public: PublicKey

    def offers(self, algorithm: str) -> bool:
        """Whether this key can run ``algorithm`` of its spec (a token may lack some)."""
        return True

    @abstractmethod
    def sign(self, algorithm: str, digest: bytes) -> bytes:
        """Sign a digest (the message itself for Ed25519); the caller checked its length.
        Signatures have one format wherever the key lives (see the module docstring)."""

    @abstractmethod
    def decrypt(self, algorithm: str, ciphertext: bytes) -> bytes:
        """RSA-OAEP or SM2PKE decryption; ``DecryptionFailed`` for any failure."""


class PrivateKey(AsymmetricKey):
    """One asymmetric key version in memory, loaded once and cached: parsing an RSA key costs
    more than signing with it."""

    __slots__ = ("_key", "_sm2", "public", "spec")

    def __init__(self, spec: KeySpec, material: KeyMaterial) -> None:
        self.spec = spec
        self._sm2: sm2.Sm2PrivateKey | None = None
        self._key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        if spec.family is Family.SM2:
            self._sm2 = sm2.Sm2PrivateKey(material)
            self.public = PublicKey(spec, sm2.spki_der(self._sm2.point))
            return
        # The material was generated here and comes back authenticated by the keyring, so the
        # slow RSA consistency checks add nothing.
        key = serialization.load_der_private_key(
            material.reveal(), None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise ValueError("unexpected private key type")
        self._key = key
        self.public = PublicKey(spec, key.public_key().public_bytes(_DER, _SPKI))

    def __repr__(self) -> str:
        return f"<PrivateKey {self.spec.name} redacted>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("PrivateKey cannot be pickled")

    def sign(self, algorithm: str, digest: bytes) -> bytes:
        """Sign a digest (the message itself for Ed25519); the caller checked its length."""
        if self._sm2 is not None:
            return self._sm2.sign_digest(digest)
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
                if algorithm == "RSA_PSS_SHA_256"
                else padding.PKCS1v15()
            )
            return key.sign(digest, pad, utils.Prehashed(hashes.SHA256()))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return key.sign(digest)

    def sign_message(self, algorithm: str, message: bytes) -> bytes:
        """Sign the message itself: its SHA-256, or for SM2DSA SM3(Z ‖ M), default signer id."""
        if self._sm2 is not None:
            return self._sm2.sign_message(message)
        return self.sign(algorithm, _sha256(message))

    def decrypt(self, algorithm: str, ciphertext: bytes) -> bytes:
        """RSA-OAEP or SM2PKE decryption; ``DecryptionFailed`` for any failure."""
        try:
            if self._sm2 is not None:
                return self._sm2.decrypt(ciphertext)
            if not isinstance(self._key, rsa.RSAPrivateKey):
                raise DecryptionFailed
            return self._key.decrypt(ciphertext, oaep(algorithm))
        except ValueError as exc:
            raise DecryptionFailed from exc
