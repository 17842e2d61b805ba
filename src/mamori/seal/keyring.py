"""The keyring: versioned data-encryption keys, wrapped by the root key, that wrap everything else.

Rotating the root key rewraps only the keyring rows (``rewrap``): the DEKs, and so everything
they wrap, stay as they are. A wrapped value is laid out as::

    offset  size  field
    0       4     keyring version, big-endian
    4       12    IV
    16      n+16  AES-256-GCM(ciphertext ‖ tag), AAD = caller's binding (e.g. key id + version id)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.seal import RootCipher

_HEAD = struct.Struct(">I")
_IV = 12
_KEYRING_AAD = b"mamori/keyring/v"


class Keyring:
    """Wraps and unwraps small secrets (key material, AccessKey secrets) for the store."""

    def __init__(self, root: KeyMaterial | RootCipher, rows: Iterable[tuple[int, bytes]]) -> None:
        self._root = _cipher(root)
        self._deks: dict[int, AESGCM] = {}
        for version, wrapped in rows:
            self._deks[version] = AESGCM(_open_dek(self._root, version, wrapped))
        self._current = max(self._deks) if self._deks else 0

    @property
    def current_version(self) -> int:
        """The keyring version new values are wrapped with (0: none yet)."""
        return self._current

    def new_version(self, persist: Callable[[int, bytes], None]) -> int:
        """Create the next DEK, hand its wrapped form to ``persist``, then start using it."""
        version = self._current + 1
        dek = os.urandom(32)
        persist(version, _seal_dek(self._root, version, dek))
        self._deks[version] = AESGCM(dek)
        self._current = version
        return version

    def wrap(self, secret: bytes, binding: bytes) -> bytes:
        """Encrypt ``secret`` for storage; ``binding`` must be presented again to unwrap."""
        iv = os.urandom(_IV)
        sealed = self._deks[self._current].encrypt(iv, secret, binding)
        return _HEAD.pack(self._current) + iv + sealed

    def unwrap(self, wrapped: bytes, binding: bytes) -> KeyMaterial:
        """Decrypt a stored value; any mismatch raises ``DecryptionFailed``."""
        if len(wrapped) < _HEAD.size + _IV + 16:
            raise DecryptionFailed
        (version,) = _HEAD.unpack_from(wrapped)
        dek = self._deks.get(version)
        if dek is None:
            raise DecryptionFailed
        iv = wrapped[_HEAD.size : _HEAD.size + _IV]
        try:
            return KeyMaterial(dek.decrypt(iv, wrapped[_HEAD.size + _IV :], binding))
        except Exception as exc:
            raise DecryptionFailed from exc


def rewrap(
    old_root: KeyMaterial | RootCipher,
    new_root: KeyMaterial | RootCipher,
    rows: Iterable[tuple[int, bytes]],
) -> list[tuple[int, bytes]]:
    """The keyring rows sealed by ``new_root`` instead of ``old_root`` (root-key rotation);
    raises ``DecryptionFailed`` if ``old_root`` does not open every row."""
    old, new = _cipher(old_root), _cipher(new_root)
    return [(version, _seal_dek(new, version, _open_dek(old, version, w))) for version, w in rows]


def _cipher(root: KeyMaterial | RootCipher) -> RootCipher:
    return AESGCM(root.reveal()) if isinstance(root, KeyMaterial) else root


def _seal_dek(root: RootCipher, version: int, dek: bytes) -> bytes:
    iv = os.urandom(_IV)
    return iv + root.encrypt(iv, dek, _KEYRING_AAD + str(version).encode())


def _open_dek(root: RootCipher, version: int, wrapped: bytes) -> bytes:
    try:
        return root.decrypt(wrapped[:_IV], wrapped[_IV:], _KEYRING_AAD + str(version).encode())
    except Exception as exc:
        raise DecryptionFailed(
            "the root key does not open the keyring (wrong root key file or token?)"
        ) from exc
