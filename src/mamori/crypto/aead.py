"""Authenticated encryption with a 96-bit random IV, for AES-GCM and SM4-GCM keys."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, NoReturn, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
from cryptography.hazmat.primitives.ciphers import algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import Cipher

if TYPE_CHECKING:
    from mamori.crypto.block_modes import BlockModeKey

IV_BYTES: Final = 12
TAG_BYTES: Final = 16


class DecryptionFailed(Exception):
    """Any failed decryption. Deliberately says nothing about why (wrong key, AAD or tamper)."""


class Aead(Protocol):
    """What a key version seals and opens blobs with: ``AeadKey`` in memory, or a key that
    stays inside a PKCS#11 token. Both produce the same bytes for the same key."""

    def seal(self, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> tuple[bytes, bytes]:
        """Encrypt; returns (iv, ciphertext ‖ tag)."""
        ...

    def open(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt ciphertext ‖ tag; raises ``DecryptionFailed`` for any failure."""
        ...


class AeadKey:
    """One symmetric key, ready to seal and open. Build once per key version and reuse: creating
    the ``AESGCM`` object costs more than sealing a kilobyte."""

    __slots__ = ("_aes", "_cipher", "_modes", "_raw")

    def __init__(self, cipher: Cipher, material: KeyMaterial) -> None:
        self._cipher = cipher
        self._raw = material
        self._aes = AESGCM(material.reveal()) if cipher is Cipher.AES_GCM else None
        self._modes: dict[str, BlockModeKey] = {}

    def __repr__(self) -> str:
        return f"<AeadKey {self._cipher.value} redacted>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("AeadKey cannot be pickled")

    @property
    def cipher(self) -> Cipher:
        """The AEAD this key seals blobs with (it decides which block modes it offers)."""
        return self._cipher

    def block_mode(self, algorithm: str) -> BlockModeKey:
        """This version's key for an unauthenticated mode (``block_modes.MODES``), derived from
        the material and never the material itself; built once per version and mode."""
        found = self._modes.get(algorithm)
        if found is None:
            # Imported here: block_modes raises this module's DecryptionFailed.
            from mamori.crypto.block_modes import BlockModeKey

            found = self._modes[algorithm] = BlockModeKey(algorithm, self._raw)
        return found

    def seal(self, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> tuple[bytes, bytes]:
        """Encrypt; returns (iv, ciphertext ‖ tag). ``iv`` is for known-answer tests only."""
        iv = iv or os.urandom(IV_BYTES)
        if self._aes is not None:
            return iv, self._aes.encrypt(iv, plaintext, aad or None)
        enc = _Cipher(algorithms.SM4(self._raw.reveal()), modes.GCM(iv)).encryptor()
        if aad:
            enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return iv, body + enc.tag

    def open(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt ciphertext ‖ tag; raises ``DecryptionFailed`` for any failure."""
        if len(iv) != IV_BYTES or len(sealed) < TAG_BYTES:
            raise DecryptionFailed
        try:
            if self._aes is not None:
                return self._aes.decrypt(iv, sealed, aad or None)
            body, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
            dec = _Cipher(algorithms.SM4(self._raw.reveal()), modes.GCM(iv, tag)).decryptor()
            if aad:
                dec.authenticate_additional_data(aad)
            return dec.update(body) + dec.finalize()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed from exc
