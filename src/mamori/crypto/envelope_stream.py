"""The streaming envelope (version 0x02): a file of any size sealed under one data key in
authenticated chunks, so it is encrypted and decrypted in constant memory. Written and read by
``mamori.envelope.encrypt_stream`` / ``decrypt_stream`` (``mamori encrypt --file``).

Layout (lengths big-endian; the same table is in docs/cli-guide.md). Bytes 0 … 5+n+k are the
fields of version 0x01 (``mamori.crypto.envelope``) with version 0x02::

    offset      size  field
    0           1     format version, 0x02
    1           2     n = length of the EncryptionContext field (0 … 8192)
    3           n     EncryptionContext, canonical JSON (as in version 0x01); empty for none
    3+n         2     k = length of the encrypted data key (1 … 1024)
    5+n         k     encrypted data key: KMS's CiphertextBlob for the data key, base64-decoded
    5+n+k       4     c = plaintext bytes per chunk (1024 … 4 MiB)
    9+n+k       7     nonce prefix, random per file
    16+n+k      …     chunks: each AES-256-GCM ciphertext ‖ 16-byte tag

Every chunk but the last holds exactly c plaintext bytes; the last holds 1 … c (0 only when the
whole plaintext is empty). Chunk i (from 0, at most 2³² chunks) is sealed with

    nonce = nonce prefix (7) ‖ i (4, big-endian) ‖ 0x01 if it is the last chunk else 0x00
    AAD   = the header, bytes 0 … 16+n+k

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015), as Tink's streaming
AEAD uses it: a chunk moved to another index, a chunk dropped, a file cut after any chunk
(its last chunk then was sealed as "not last") or a chunk appended after the last all fail the
tag of some chunk; the header cannot change without every chunk failing. The data key is fresh
per file, so nonces never repeat under one key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.crypto.aead import TAG_BYTES, DecryptionFailed
from mamori.crypto.envelope import MalformedEnvelope, read_header
from mamori.crypto.envelope import header as shared_header

VERSION: Final = 0x02
PREFIX_BYTES: Final = 7
MIN_CHUNK: Final = 1024
MAX_CHUNK: Final = 4 * 1024 * 1024
DEFAULT_CHUNK: Final = 64 * 1024
MAX_CHUNKS: Final = 2**32

__all__ = [
    "DEFAULT_CHUNK",
    "VERSION",
    "StreamHeader",
    "new_header",
    "open_chunk",
    "read_stream_header",
    "seal_chunk",
]


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """A streaming envelope's header; ``raw`` is its bytes (every chunk's AAD)."""

    raw: bytes
    context: dict[str, str]
    context_bytes: bytes
    wrapped_key: bytes
    chunk_size: int
    prefix: bytes

    @property
    def sealed_chunk_size(self) -> int:
        """How many bytes a full chunk takes in the file."""
        return self.chunk_size + TAG_BYTES


def new_header(context: bytes, wrapped_key: bytes, chunk_size: int = DEFAULT_CHUNK) -> bytes:
    """A fresh header (random nonce prefix) for a canonical context and a wrapped data key."""
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"the chunk size must be {MIN_CHUNK} … {MAX_CHUNK} bytes")
    return b"".join(
        (
            shared_header(context, wrapped_key, VERSION),
            chunk_size.to_bytes(4, "big"),
            os.urandom(PREFIX_BYTES),
        )
    )


def read_stream_header(read: Callable[[int], bytes]) -> StreamHeader:
    """Read and check a streaming envelope's header through ``read``."""
    shared = read_header(read, VERSION)
    rest = read(4 + PREFIX_BYTES)
    if len(rest) != 4 + PREFIX_BYTES:
        raise MalformedEnvelope("the envelope is truncated")
    chunk_size = int.from_bytes(rest[:4], "big")
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise MalformedEnvelope("the chunk size is impossible")
    return StreamHeader(
        raw=shared.raw + rest,
        context=shared.context,
        context_bytes=shared.context_bytes,
        wrapped_key=shared.wrapped_key,
        chunk_size=chunk_size,
        prefix=rest[4:],
    )


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if not 0 <= index < MAX_CHUNKS:
        raise ValueError("too many chunks for one envelope")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def seal_chunk(aes: AESGCM, head: bytes, index: int, plaintext: bytes, last: bool) -> bytes:
    """Chunk ``index`` of the file whose header is ``head`` (from ``new_header``)."""
    prefix = head[-PREFIX_BYTES:]
    return aes.encrypt(_nonce(prefix, index, last), plaintext, head)


def open_chunk(aes: AESGCM, head: StreamHeader, index: int, sealed: bytes, last: bool) -> bytes:
    """The plaintext of chunk ``index``; ``DecryptionFailed`` if it is not the chunk sealed at
    that index with that last-chunk flag under this header and key."""
    try:
        return aes.decrypt(_nonce(head.prefix, index, last), sealed, head.raw)
    except InvalidTag:
        raise DecryptionFailed from None
