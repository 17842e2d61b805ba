"""Key material import (Origin=EXTERNAL, "bring your own key"): a wrapping key pair per
GetParametersForImport, material unwrapped by ImportKeyMaterial, and DeleteKeyMaterial.

The wrapping private key is stored keyring-wrapped under the SHA-256 of its ImportToken; the
token itself is never stored, and it opens only for the key it was issued for, for 24 hours.
An imported key keeps a check value of its first material (HMAC-SHA256 keyed by the material),
so the same material, and only it, can come back after DeleteKeyMaterial or expiry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import delete, insert, select

from mamori.core.errors import (
    ExpiredImportToken,
    InvalidImportToken,
    InvalidInput,
    InvalidKeyMaterial,
    StateConflict,
    UnsupportedOrigin,
)
from mamori.core.keys import KeyService
from mamori.core.model import KeyRecord, KeyState
from mamori.core.refs import Scope
from mamori.crypto import sm2
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.asymmetric import oaep
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import SPECS
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

TOKEN_TTL: Final = 24 * 3600
EXTERNAL: Final = "EXTERNAL"
_TOKEN_PREFIX: Final = "mit1."  # noqa: S105 (a format tag, not a secret)
# Base64 of the largest wrapped material (an RSA-2048 block; SM2PKE of 32 bytes is smaller).
MAX_ENCRYPTED_CHARS: Final = 1024

# WrappingKeySpec → the WrappingAlgorithms it takes; RSA ones with their padding.
WRAPPINGS: Final[dict[str, tuple[str, ...]]] = {
    "RSA_2048": ("RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"),
    "EC_SM2": ("SM2PKE",),
}
_RSA_PADDINGS: Final[dict[str, padding.AsymmetricPadding]] = {
    "RSAES_PKCS1_V1_5": padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": oaep("RSAES_OAEP_SHA_1"),
    "RSAES_OAEP_SHA_256": oaep("RSAES_OAEP_SHA_256"),
}


def _new_wrapping_key(spec: str) -> tuple[bytes, KeyMaterial]:
    """A fresh wrapping key pair: (public SubjectPublicKeyInfo DER, private key to store)."""
    if spec == "EC_SM2":
        material = sm2.generate()
        return sm2.spki_der(sm2.Sm2PrivateKey(material).point), material
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return public, KeyMaterial(der)


def _unwrap_with(spec: str, algorithm: str, private: KeyMaterial, wrapped: bytes) -> bytes:
    """Decrypt ``wrapped`` with the stored wrapping private key; InvalidKeyMaterial if it
    does not open."""
    try:
        if spec == "EC_SM2":
            return sm2.Sm2PrivateKey(private).decrypt(wrapped)
        key = serialization.load_der_private_key(private.reveal(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key.decrypt(wrapped, _RSA_PADDINGS[algorithm])
    except (ValueError, InvalidSignature):  # sm2.Sm2Error is a ValueError
        raise InvalidKeyMaterial from None


Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """GetParametersForImport's answer."""

    key_id: str
    public_key: str  # base64 DER SubjectPublicKeyInfo
    token: str
    expires_at: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _binding(token_hash: str) -> bytes:
    return f"import-token/{token_hash}".encode()


def material_check(key_id: str, material: bytes) -> str:
    """A check value that identifies the material without revealing it."""
    mac = crypto_hmac.HMAC(material, hashes.SHA256())
    mac.update(b"mamori/import-check/" + key_id.encode())
    return mac.finalize().hex()


class KeyImport:
    """The import flow over the key service."""

    def __init__(self, db: Database, keys: KeyService, keyring: Keyring, clock: Clock) -> None:
        self._db = db
        self._keys = keys
        self._keyring = keyring
        self._clock = clock

    def _external(self, scope: Scope, key: str) -> KeyRecord:
        record = self._keys.resolve(scope, key)
        if record.origin != EXTERNAL:
            raise UnsupportedOrigin
        return record

    def parameters(self, scope: Scope, key: str, spec: str, algorithm: str) -> ImportParameters:
        """GetParametersForImport: a fresh wrapping key pair bound to this key for 24 hours."""
        record = self._external(scope, key)
        algorithms = WRAPPINGS.get(spec)
        if algorithms is None:
            raise InvalidInput("WrappingKeySpec", f"Use {' or '.join(WRAPPINGS)}.")
        if algorithm not in algorithms:
            raise InvalidInput("WrappingAlgorithm", f"{spec} takes {', '.join(algorithms)}.")
        public, private = _new_wrapping_key(spec)
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_hash = _hash(token)
        now = int(self._clock())
        expires_at = now + TOKEN_TTL
        with self._db.begin() as conn:
            # Spent tokens are dropped here: they open nothing anyway.
            spent = conn.execute(
                delete(t.import_tokens).where(t.import_tokens.c.expires_at <= now)
            ).rowcount
            conn.execute(
                insert(t.import_tokens).values(
                    token_hash=token_hash,
                    key_id=record.id,
                    wrapping_spec=spec,
                    wrapping_algorithm=algorithm,
                    wrapped_private_key=self._keyring.wrap(private.reveal(), _binding(token_hash)),
                    expires_at=expires_at,
                )
            )
        if spent:
            # Their wrapping private keys could still open material captured on its way in.
            self._db.erase()
        return ImportParameters(
            record.id, base64.b64encode(public).decode("ascii"), token, expires_at
        )

    def import_material(
        self, scope: Scope, key: str, encrypted: str, token: str, expire_unix: int
    ) -> None:
        """ImportKeyMaterial: unwrap with the token's private key; the key becomes Enabled."""
        record = self._external(scope, key)
        if record.state == KeyState.PENDING_DELETION:
            raise StateConflict(
                "Rejected.StateModifiedFailed",
                state=record.state,
                reason="the key is pending deletion",
            )
        now = int(self._clock())
        if expire_unix < 0 or 0 < expire_unix <= now:
            raise InvalidInput("KeyMaterialExpireUnix", "It must be 0 (never) or in the future.")
        token_hash = _hash(token)
        with self._db.read() as conn:
            row = conn.execute(
                select(t.import_tokens).where(t.import_tokens.c.token_hash == token_hash)
            ).first()
        if row is None or row.key_id != record.id:
            raise InvalidImportToken
        if row.expires_at <= now:
            raise ExpiredImportToken
        material = self._unwrap(row, token_hash, encrypted)
        if len(material) != SPECS[record.spec].material_bytes:
            raise InvalidKeyMaterial
        self._keys.install_material(
            record,
            material,
            material_check(record.id, material.reveal()),
            expire_unix or None,
        )

    def _unwrap(self, row: Any, token_hash: str, encrypted: str) -> KeyMaterial:
        """The material inside ``encrypted``, unwrapped with the token's private key."""
        try:
            wrapped = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("EncryptedKeyMaterial", "It must be base64.") from None
        try:
            private = self._keyring.unwrap(row.wrapped_private_key, _binding(token_hash))
        except DecryptionFailed:
            raise InvalidImportToken from None
        return KeyMaterial(
            _unwrap_with(row.wrapping_spec, row.wrapping_algorithm, private, wrapped)
        )

    def delete_material(self, scope: Scope, key: str) -> None:
        """DeleteKeyMaterial: the key is PendingImport (a PendingDeletion key keeps its
        state) until the same material is imported again."""
        record = self._external(scope, key)
        self._keys.remove_material(record.id)
