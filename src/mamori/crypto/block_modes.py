"""The unauthenticated block-cipher modes the instance API offers: ``AES_CBC``, ``AES_ECB``,
``SM4_CBC`` and ``SM4_ECB``, with ``PKCS7_PADDING`` (the default) or ``NO_PADDING``.

Layouts (what the instance API's ``CiphertextBlob`` and ``Iv`` fields carry)::

    CBC   CiphertextBlob = AES/SM4-CBC(k_mode, Iv, pad(Plaintext))   Iv = 16 bytes
    ECB   CiphertextBlob = AES/SM4-ECB(k_mode, pad(Plaintext))       Iv = empty

``k_mode`` is never the key version's own material: it is HKDF-SHA256(material, salt = none,
info = ``"mamori instance-api " + algorithm``), one key per mode. A raw block-cipher oracle
(ECB encrypts any block you give it; CBC with a chosen IV does too) on the material that also
seals GCM blobs would let anyone allowed to Encrypt compute the GCM keystream of somebody
else's blob and read it without its EncryptionContext. Separate keys per mode close that.
The cost: CBC/ECB ciphertexts of an imported (BYOK) key are not plain AES-CBC under the
imported bytes; they open only through Mamori (docs/dedicated-gateway.md says so).

These modes authenticate nothing. Padding errors and wrong lengths raise the one opaque
``DecryptionFailed``.
"""

from __future__ import annotations

import os
from typing import Final, NoReturn

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial

BLOCK_BYTES: Final = 16
PKCS7: Final = "PKCS7_PADDING"
NO_PADDING: Final = "NO_PADDING"
PADDINGS: Final = (PKCS7, NO_PADDING)
# algorithm -> (block cipher family, mode); the family must match the key's spec.
MODES: Final[dict[str, tuple[str, str]]] = {
    "AES_CBC": ("AES", "CBC"),
    "AES_ECB": ("AES", "ECB"),
    "SM4_CBC": ("SM4", "CBC"),
    "SM4_ECB": ("SM4", "ECB"),
}


class BlockModeKey:
    """One key version's derived key for one mode (``MODES``), ready to encrypt and decrypt."""

    __slots__ = ("_algorithm", "_family", "_key", "_mode")

    def __init__(self, algorithm: str, material: KeyMaterial) -> None:
        family, mode = MODES[algorithm]
        self._algorithm = algorithm
        self._family = family
        self._mode = mode
        info = f"mamori instance-api {algorithm}".encode("ascii")
        length = len(material) if family == "AES" else 16
        self._key = HKDF(hashes.SHA256(), length, None, info).derive(material.reveal())

    def __repr__(self) -> str:
        return f"<BlockModeKey {self._algorithm} redacted>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("BlockModeKey cannot be pickled")

    @property
    def iv_bytes(self) -> int:
        """The IV length the mode takes: 16 for CBC, 0 for ECB."""
        return BLOCK_BYTES if self._mode == "CBC" else 0

    def _cipher(self, iv: bytes) -> Cipher[modes.CBC | modes.ECB]:
        block = algorithms.AES(self._key) if self._family == "AES" else algorithms.SM4(self._key)
        # ECB is what the instance API offers (AES_ECB); it runs under its own derived key.
        mode: modes.CBC | modes.ECB = modes.CBC(iv) if self._mode == "CBC" else modes.ECB()  # noqa: S305
        return Cipher(block, mode)

    def encrypt(self, plaintext: bytes, padding_mode: str, iv: bytes | None) -> tuple[bytes, bytes]:
        """(iv, ciphertext). ``iv`` None draws a random one (CBC); NO_PADDING needs one or
        more whole blocks (``ValueError`` otherwise, before anything is encrypted): zero
        blocks would be an empty ciphertext, which ``decrypt`` refuses."""
        if padding_mode == PKCS7:
            padder = padding.PKCS7(BLOCK_BYTES * 8).padder()
            plaintext = padder.update(plaintext) + padder.finalize()
        elif not plaintext or len(plaintext) % BLOCK_BYTES:
            raise ValueError("NO_PADDING takes one or more whole 16-byte blocks")
        if self.iv_bytes == 0:
            if iv:
                raise ValueError("ECB takes no IV")
            iv = b""
        elif iv is None:
            iv = os.urandom(self.iv_bytes)
        elif len(iv) != self.iv_bytes:
            raise ValueError("CBC takes a 16-byte IV")
        enc = self._cipher(iv).encryptor()
        return iv, enc.update(plaintext) + enc.finalize()

    def decrypt(self, ciphertext: bytes, padding_mode: str, iv: bytes) -> bytes:
        """The plaintext; ``DecryptionFailed`` for a wrong IV length, a partial block or bad
        padding (one answer for all)."""
        if len(iv) != self.iv_bytes or not ciphertext or len(ciphertext) % BLOCK_BYTES:
            raise DecryptionFailed
        dec = self._cipher(iv).decryptor()
        data = dec.update(ciphertext) + dec.finalize()
        if padding_mode == NO_PADDING:
            return data
        unpadder = padding.PKCS7(BLOCK_BYTES * 8).unpadder()
        try:
            return unpadder.update(data) + unpadder.finalize()
        except ValueError as exc:
            raise DecryptionFailed from exc
