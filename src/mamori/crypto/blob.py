"""The ciphertext blob of the shared gateway and its Advance (dedicated gateway) variant.

Layout, before base64::

    offset  size  field
    0       36    key version id, ASCII (a UUID in its canonical 8-4-4-4-12 form)
    36      12    IV
    48      n     ciphertext
    48+n    16    GCM tag

The Advance format prefixes the same bytes with ``$`` 0x00 0x02. Both parse here, so a blob made
by either gateway decrypts through either one.

The header is not encrypted, so the AEAD authenticates it instead: a blob is sealed with
``aad(version_id, context_aad)``. Without that, two key versions holding the same (imported)
material would open each other's blobs once the header was rewritten, and Decrypt on one key
would read the other's data.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from mamori.crypto.aead import IV_BYTES, TAG_BYTES

VERSION_ID_BYTES: Final = 36
ADVANCE_PREFIX: Final = b"$\x00\x02"
_HEADER: Final = VERSION_ID_BYTES + IV_BYTES
# Only a canonical UUID reaches the store: a NUL or other junk byte there is a 500 on PostgreSQL.
_VERSION_ID: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class MalformedBlob(ValueError):
    """The bytes are not a Mamori ciphertext blob."""


@dataclass(frozen=True, slots=True)
class Blob:
    """A parsed blob: which key version sealed it, the IV, and ciphertext ‖ tag."""

    version_id: str
    iv: bytes
    sealed: bytes


def aad(version_id: str, context_aad: bytes) -> bytes:
    """The AAD a blob is sealed with: the 36-byte version id of its header, then the caller's
    AAD (an EncryptionContext's, or none). The id's fixed length keeps the join injective."""
    return version_id.encode("ascii") + context_aad


def encode(version_id: str, iv: bytes, sealed: bytes, *, advance: bool = False) -> str:
    """Build the base64 blob for a sealed payload."""
    raw_id = version_id.encode("ascii")
    if len(raw_id) != VERSION_ID_BYTES or len(iv) != IV_BYTES:
        raise ValueError("version id must be 36 ASCII bytes and the IV 12 bytes")
    prefix = ADVANCE_PREFIX if advance else b""
    return base64.b64encode(prefix + raw_id + iv + sealed).decode("ascii")


def decode(text: str) -> Blob:
    """Parse a base64 blob; any defect raises ``MalformedBlob`` before a byte is sliced."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedBlob("not base64") from exc
    return parse(raw)


def parse(raw: bytes) -> Blob:
    """Parse a blob's bytes (with or without the Advance prefix), as ``decode`` does."""
    if raw.startswith(ADVANCE_PREFIX):
        raw = raw[len(ADVANCE_PREFIX) :]
    if len(raw) < _HEADER + TAG_BYTES:
        raise MalformedBlob("too short")
    try:
        version_id = raw[:VERSION_ID_BYTES].decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedBlob("bad version id") from exc
    if not is_version_id(version_id):
        raise MalformedBlob("bad version id")
    return Blob(version_id, raw[VERSION_ID_BYTES:_HEADER], raw[_HEADER:])


def is_version_id(text: str) -> bool:
    """Whether ``text`` is a canonical key version id (a UUID), the only form the store holds."""
    return _VERSION_ID.fullmatch(text) is not None
