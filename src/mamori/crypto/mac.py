"""HMAC keys for GenerateMac / VerifyMac: HMAC-SHA-2 and HMAC-SM3 (``cryptography``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from secrets import compare_digest
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from mamori.crypto.material import KeyMaterial

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
    "HMAC_SM3": hashes.SM3,
}


class Mac(ABC):
    """An HMAC key version, wherever it lives: in this process (``MacKey``) or in a PKCS#11
    token (``mamori.hsm``). Its algorithm is fixed by its spec."""

    __slots__ = ()

    algorithm: str

    @abstractmethod
    def mac(self, message: bytes) -> bytes:
        """The HMAC of ``message``."""

    def verify(self, message: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is the HMAC of ``message``, compared in constant time."""
        return compare_digest(self.mac(message), tag)


class MacKey(Mac):
    """One HMAC key version in memory."""

    __slots__ = ("_hash", "_raw", "algorithm")

    def __init__(self, algorithm: str, material: KeyMaterial) -> None:
        self.algorithm = algorithm
        self._hash = _HASHES[algorithm]
        self._raw = material

    def __repr__(self) -> str:
        return f"<MacKey {self.algorithm} redacted>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("MacKey cannot be pickled")

    def mac(self, message: bytes) -> bytes:
        """The HMAC of ``message``."""
        h = hmac.HMAC(self._raw.reveal(), self._hash())
        h.update(message)
        return h.finalize()

    def verify(self, message: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is the HMAC of ``message``, compared in constant time."""
        h = hmac.HMAC(self._raw.reveal(), self._hash())
        h.update(message)
        try:
            h.verify(tag)
        except InvalidSignature:
            return False
        return True
