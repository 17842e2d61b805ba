"""Encrypt, Decrypt, data keys and ReEncrypt with symmetric keys. This is the hot path: it reads
only the key caches (the store only on a cache miss) and does one AEAD operation."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from mamori.core.errors import CiphertextInvalid, KeyNotFound, StateConflict, Unsupported
from mamori.core.keys import KeyService, UsableVersion
from mamori.core.model import KeyRecord, KeyState
from mamori.core.refs import Scope
from mamori.crypto import blob
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.context import context_aad
from mamori.crypto.specs import SPECS, KeyUsage

MAX_PLAINTEXT = 6 * 1024

_STATE_ERRORS = {
    KeyState.DISABLED: "Rejected.Disabled",
    KeyState.PENDING_DELETION: "Rejected.PendingDeletion",
    KeyState.PENDING_IMPORT: "Rejected.PendingImport",
}


@dataclass(frozen=True, slots=True)
class Sealed:
    """The result of sealing under a key: the blob and who made it."""

    key_id: str
    version_id: str
    blob: str


@dataclass(frozen=True, slots=True)
class Opened:
    """The result of opening a blob."""

    key_id: str
    version_id: str
    plaintext: bytes


def sealing_aad(version: UsableVersion, context: Mapping[str, str] | None) -> bytes:
    """What a version's blobs are sealed with for an EncryptionContext (``version_aad``)."""
    return version_aad(version, context_aad(context))


def version_aad(version: UsableVersion, caller_aad: bytes) -> bytes:
    """The AEAD's AAD for the caller's AAD bytes: bound to the version id (``blob.aad``),
    except for versions made before that binding, which keep opening (and making) blobs
    sealed with the caller's AAD alone."""
    return caller_aad if version.legacy_aad else blob.aad(version.version_id, caller_aad)


def require_enabled(record: KeyRecord, now: float | None = None) -> None:
    """The key-state table for cryptographic operations; imported material that has expired
    counts as PendingImport (before the jobs pass removes it)."""
    code = _STATE_ERRORS.get(record.state)
    if code is not None:
        raise StateConflict(code, state=record.state)
    expire = record.material_expire_at
    if expire is not None and expire <= (time.time() if now is None else now):
        raise StateConflict("Rejected.PendingImport", state=KeyState.PENDING_IMPORT)


def require_usable(record: KeyRecord, now: float | None = None) -> None:
    """The key-state table for cryptographic operations, and the symmetric usage check."""
    require_enabled(record, now)
    spec = SPECS[record.spec]
    if not spec.symmetric or record.usage != KeyUsage.ENCRYPT_DECRYPT:
        raise Unsupported(f"the key's spec {record.spec} and usage {record.usage} cannot encrypt")


class CryptoService:
    """Symmetric cryptographic operations over the key service's caches."""

    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def encrypt_key(self, scope: Scope, key: str) -> tuple[KeyRecord, UsableVersion]:
        """Resolve and check a key for sealing; DryRun stops after this."""
        record = self._keys.resolve(scope, key)
        require_usable(record, self._keys.now())
        assert record.primary_version_id is not None
        version = self._keys.version(record.primary_version_id)
        if version is None:
            raise KeyNotFound
        return record, version

    def encrypt(
        self, scope: Scope, key: str, plaintext: bytes, context: Mapping[str, str] | None
    ) -> Sealed:
        """Encrypt with the key's primary version."""
        _record, version = self.encrypt_key(scope, key)
        return self._seal(version, plaintext, context)

    @staticmethod
    def _seal(
        version: UsableVersion, plaintext: bytes, context: Mapping[str, str] | None
    ) -> Sealed:
        iv, sealed = version.aead.seal(plaintext, sealing_aad(version, context))
        return Sealed(
            version.key_id, version.version_id, blob.encode(version.version_id, iv, sealed)
        )

    def generate_data_key(
        self, scope: Scope, key: str, size: int, context: Mapping[str, str] | None
    ) -> tuple[Sealed, bytes]:
        """A fresh random data key and its blob under the key."""
        _record, version = self.encrypt_key(scope, key)
        data_key = os.urandom(size)
        return self._seal(version, data_key, context), data_key

    def decrypt_key(self, scope: Scope, text: str) -> tuple[blob.Blob, UsableVersion]:
        """Parse a blob and find (and check) the key that sealed it; DryRun stops after this."""
        try:
            parsed = blob.decode(text)
        except blob.MalformedBlob as exc:
            raise CiphertextInvalid from exc
        version = self._keys.version(parsed.version_id)
        if version is None:
            # Deleted imported material: the key's state is the answer, if it is the caller's.
            key_id = self._keys.key_of_version(parsed.version_id)
            if key_id is not None:
                require_usable(self._keys.resolve(scope, key_id), self._keys.now())
            raise KeyNotFound
        record = self._keys.resolve(scope, version.key_id)
        require_usable(record, self._keys.now())
        return parsed, version

    def decrypt(self, scope: Scope, text: str, context: Mapping[str, str] | None) -> Opened:
        """Decrypt a blob made by Encrypt or a GenerateDataKey action."""
        parsed, version = self.decrypt_key(scope, text)
        try:
            plaintext = version.aead.open(parsed.iv, parsed.sealed, sealing_aad(version, context))
        except DecryptionFailed as exc:
            raise CiphertextInvalid from exc
        return Opened(version.key_id, version.version_id, plaintext)

    def re_encrypt(
        self,
        scope: Scope,
        text: str,
        source_context: Mapping[str, str] | None,
        destination_key: str,
        destination_context: Mapping[str, str] | None,
    ) -> Sealed:
        """Decrypt under the blob's key, encrypt under the destination key; nothing escapes."""
        _record, destination = self.encrypt_key(scope, destination_key)
        opened = self.decrypt(scope, text, source_context)
        return self._seal(destination, opened.plaintext, destination_context)
