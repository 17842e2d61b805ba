"""The root of trust: yields the root key at start; nothing else."""

from __future__ import annotations

from typing import Protocol

from mamori.crypto.material import KeyMaterial


class RootCipher(Protocol):
    """AES-256-GCM under the root key, shaped like ``AESGCM``: what a provider hands the keyring
    when the root key itself never leaves its token."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Seal ``data``; returns ciphertext ‖ tag."""
        ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Open ciphertext ‖ tag; raises on any mismatch."""
        ...


class RootKeyProvider(Protocol):
    """Where the 256-bit root key comes from: a key file, or a PKCS#11 token."""

    def open(self) -> KeyMaterial | RootCipher:
        """Return the root key (or a cipher over it), creating it on first start if allowed."""
        ...
