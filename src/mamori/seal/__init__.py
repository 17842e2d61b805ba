"""The root of trust: yields the root key at start; nothing else."""

from __future__ import annotations

from typing import Protocol

from mamori.crypto.material import KeyMaterial


class RootKeyProvider(Protocol):
    """Where the 256-bit root key comes from (a key file now; Shamir or PKCS#11 later)."""

    def open(self) -> KeyMaterial:
        """Return the root key, creating it on first start if this provider may."""
        ...
