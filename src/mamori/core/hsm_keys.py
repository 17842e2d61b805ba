"""Key versions whose AES key lives in a PKCS#11 token (``ProtectionLevel=HSM``).

The store keeps only a reference for such a version: ``pkcs11:`` and the token object's label,
never material. The label is derived from the key and version ids, so the token object and the
store row name each other.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

from mamori.core.errors import DomainError, UnsupportedProtectionLevel
from mamori.crypto.aead import Aead
from mamori.crypto.specs import Cipher, KeySpec
from mamori.hsm import HsmError

if TYPE_CHECKING:
    from mamori.hsm import Token

REFERENCE_PREFIX: Final = b"pkcs11:"


class HsmUnavailable(DomainError):
    """The token holding the key cannot be used right now (absent, logged out, failing)."""

    code = "ServiceUnavailableTemporary"


def version_label(key_id: str, version_id: str) -> str:
    """The token object label of one key version."""
    return f"mamori/key/{key_id}/{version_id}"


class HsmVersions:
    """Generates, opens and destroys HSM key versions; every method fails with a domain error."""

    def __init__(self, token: Token | None) -> None:
        self._token = token

    def check(self, spec: KeySpec) -> None:
        """Refuse HSM for a spec the token cannot hold, or when no token is configured."""
        # SoftHSM2 (and PKCS#11 generally) has no SM4-GCM: only AES specs go to the token.
        if self._token is None or spec.cipher is not Cipher.AES_GCM:
            raise UnsupportedProtectionLevel

    def generate(self, key_id: str, version_id: str, spec: KeySpec) -> bytes:
        """Make the version's key in the token; returns the reference the store keeps."""
        self.check(spec)
        assert self._token is not None
        label = version_label(key_id, version_id)
        try:
            self._token.generate_aes(label, spec.material_bytes * 8)
        except HsmError as exc:
            raise HsmUnavailable from exc
        return REFERENCE_PREFIX + label.encode("ascii")

    def open(self, reference: bytes, key_id: str, version_id: str) -> Aead:
        """The token key a stored reference names, checked against the version it belongs to."""
        if self._token is None or reference != REFERENCE_PREFIX + version_label(
            key_id, version_id
        ).encode("ascii"):
            raise HsmUnavailable
        try:
            aead = self._token.aead(version_label(key_id, version_id))
        except HsmError as exc:
            raise HsmUnavailable from exc
        if aead is None:
            raise HsmUnavailable
        return _DomainAead(aead)

    def discard(self, key_id: str, version_id: str) -> None:
        """Destroy a version's token key; best effort (used to undo and after deletion)."""
        if self._token is None:
            return
        # A leftover token object is orphaned, not dangerous: nothing references it.
        with contextlib.suppress(HsmError):
            self._token.destroy(version_label(key_id, version_id))


class _DomainAead:
    """A token key whose device failures surface as ``HsmUnavailable`` (503), not a 500."""

    __slots__ = ("_aead",)

    def __init__(self, aead: Aead) -> None:
        self._aead = aead

    def seal(self, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> tuple[bytes, bytes]:
        """Encrypt on the token."""
        try:
            return self._aead.seal(plaintext, aad, iv)
        except HsmError as exc:
            raise HsmUnavailable from exc

    def open(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt on the token."""
        try:
            return self._aead.open(iv, sealed, aad)
        except HsmError as exc:
            raise HsmUnavailable from exc
