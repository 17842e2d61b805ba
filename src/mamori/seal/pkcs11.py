"""Root key inside a PKCS#11 token: a non-extractable AES-256 key that wraps the keyring's DEKs.

The DEKs are still unwrapped into memory at start (every request needs them), but the key that
opens them exists only in the token: copying the database and the data directory is not enough,
and Mamori starts only when the token opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mamori.hsm import Token, TokenAead

ROOT_KEY_BITS = 256


class SealError(RuntimeError):
    """The token opened but does not hold the root key the keyring was made with."""


class Pkcs11RootProvider:
    """Finds the root key in ``token`` by label; creates it only for a brand-new keyring."""

    def __init__(self, token: Token, label: str, *, may_create: bool) -> None:
        self._token = token
        self._label = label
        self._may_create = may_create

    def open(self) -> TokenRootCipher:
        """The root key as a cipher running on the token."""
        aead = self._token.aead(self._label)
        if aead is None:
            if not self._may_create:
                # Making a new root key now would orphan every DEK already in the store.
                raise SealError(
                    f"the token has no root key labelled {self._label!r}, "
                    "but the store already holds a keyring sealed by one"
                )
            aead = self._token.generate_aes(self._label, ROOT_KEY_BITS)
        return TokenRootCipher(aead)


class TokenRootCipher:
    """``AESGCM``'s encrypt/decrypt, computed by the token."""

    __slots__ = ("_aead",)

    def __init__(self, aead: TokenAead) -> None:
        self._aead = aead

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Seal ``data`` on the token."""
        return self._aead.seal(data, associated_data or b"", iv=nonce)[1]

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Open ``data`` on the token; ``DecryptionFailed`` when it does not open."""
        return self._aead.open(nonce, data, associated_data or b"")
