"""The envelope: data encrypted locally under a data key that KMS made and wrapped. Written
by ``mamori agent`` (``POST /v1/envelope/encrypt``) and by ``mamori.envelope``; each opens what
the other sealed.

Layout (all lengths big-endian; the same table is in docs/agent.md)::

    offset      size  field
    0           1     format version, 0x01
    1           2     n = length of the EncryptionContext field (0 … 8192)
    3           n     EncryptionContext: canonical JSON (below); empty when there is none
    3+n         2     k = length of the encrypted data key (1 … 1024)
    5+n         k     encrypted data key: KMS's CiphertextBlob for the data key, base64-decoded
    5+n+k       12    IV (random per message)
    17+n+k      m     ciphertext (m = plaintext length)
    17+n+k+m    16    AES-256-GCM tag

The header — bytes 0 to 5+n+k, everything before the IV — is the GCM additional data, so the
version, the context and the wrapped key cannot be changed without the tag failing. The same
context was given to ``GenerateDataKey``, so KMS binds the wrapped key to it too and ``Decrypt``
of the data key needs it.

Canonical JSON for the context: an object of string values, keys sorted, separators ``,`` and
``:``, UTF-8 without ``\\u`` escapes for non-ASCII. A reader refuses any other spelling, so one
context has exactly one encoding (and two different contexts never share one).

Version 0x02 — the same header fields, then chunked ciphertext for files of any size — is in
``mamori.crypto.envelope_stream``; both versions are read by ``read_header`` here.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.crypto.aead import IV_BYTES, TAG_BYTES, DecryptionFailed

VERSION: Final = 0x01
DATA_KEY_BYTES: Final = 32
MAX_CONTEXT_BYTES: Final = 8192
MAX_WRAPPED_KEY_BYTES: Final = 1024
# version ‖ n ‖ k and the IV and tag around a message: what an envelope adds at least.
OVERHEAD: Final = 1 + 2 + 2 + IV_BYTES + TAG_BYTES

__all__ = [
    "DATA_KEY_BYTES",
    "VERSION",
    "DecryptionFailed",
    "Envelope",
    "MalformedEnvelope",
    "context_json",
    "header",
    "open_envelope",
    "parse",
    "read_header",
    "seal",
]


class MalformedEnvelope(ValueError):
    """Not an envelope of a known version: truncated, impossible lengths, odd context."""


def context_json(context: Mapping[str, str] | None) -> bytes:
    """The canonical JSON of an EncryptionContext; empty for none. ``ValueError`` when a key or
    value is not a string or the result is longer than 8192 bytes."""
    if not context:
        return b""
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("EncryptionContext keys and values must be strings")
    text = json.dumps(dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8")
    if len(data) > MAX_CONTEXT_BYTES:
        raise ValueError(f"EncryptionContext is longer than {MAX_CONTEXT_BYTES} bytes")
    return data


def header(context: bytes, wrapped_key: bytes, version: int = VERSION) -> bytes:
    """The header (and GCM additional data) for a canonical context and a wrapped data key:
    version ‖ n ‖ context ‖ k ‖ wrapped key."""
    if not 0 < len(wrapped_key) <= MAX_WRAPPED_KEY_BYTES:
        raise ValueError("the wrapped data key has an impossible length")
    return b"".join(
        (
            bytes((version,)),
            len(context).to_bytes(2, "big"),
            context,
            len(wrapped_key).to_bytes(2, "big"),
            wrapped_key,
        )
    )


def seal(aes: AESGCM, head: bytes, plaintext: bytes) -> bytes:
    """An envelope: ``head`` (from ``header``), a fresh IV, the ciphertext and tag."""
    iv = os.urandom(IV_BYTES)
    return b"".join((head, iv, aes.encrypt(iv, plaintext, head)))


@dataclass(frozen=True, slots=True)
class Envelope:
    """An envelope taken apart; nothing in it is authenticated until ``open_envelope``."""

    head: bytes
    context: dict[str, str]
    context_bytes: bytes
    wrapped_key: bytes
    iv: bytes
    sealed: bytes  # ciphertext ‖ tag


@dataclass(frozen=True, slots=True)
class Header:
    """The fields every version shares, as read; ``raw`` is their bytes (the GCM AAD)."""

    raw: bytes
    context: dict[str, str]
    context_bytes: bytes
    wrapped_key: bytes


def read_header(read: Callable[[int], bytes], version: int) -> Header:
    """Read version ‖ n ‖ context ‖ k ‖ wrapped key of an envelope of ``version`` through
    ``read`` (a file's ``read``), checking each length before reading what it counts."""
    start = _exact(read, 3)
    if start[0] != version:
        raise MalformedEnvelope("not an envelope of a known version")
    n = int.from_bytes(start[1:3], "big")
    if n > MAX_CONTEXT_BYTES:
        raise MalformedEnvelope("the EncryptionContext length is impossible")
    context_bytes = _exact(read, n)
    k_bytes = _exact(read, 2)
    k = int.from_bytes(k_bytes, "big")
    if not 0 < k <= MAX_WRAPPED_KEY_BYTES:
        raise MalformedEnvelope("the wrapped data key length is impossible")
    wrapped = _exact(read, k)
    return Header(
        raw=b"".join((start, context_bytes, k_bytes, wrapped)),
        context=_read_context(context_bytes),
        context_bytes=context_bytes,
        wrapped_key=wrapped,
    )


def parse(blob: bytes) -> Envelope:
    """Take an envelope apart, checking every length before slicing."""
    if len(blob) < OVERHEAD or blob[0] != VERSION:
        raise MalformedEnvelope("not an envelope of a known version")
    reader = io.BytesIO(blob)
    head = read_header(reader.read, VERSION)
    end = len(head.raw)
    if len(blob) < end + IV_BYTES + TAG_BYTES:
        raise MalformedEnvelope("the envelope is truncated")
    return Envelope(
        head=head.raw,
        context=head.context,
        context_bytes=head.context_bytes,
        wrapped_key=head.wrapped_key,
        iv=blob[end : end + IV_BYTES],
        sealed=blob[end + IV_BYTES :],
    )


def _exact(read: Callable[[int], bytes], size: int) -> bytes:
    data = read(size)
    if len(data) != size:
        raise MalformedEnvelope("the envelope is truncated")
    return data


def open_envelope(aes: AESGCM, envelope: Envelope) -> bytes:
    """The plaintext; ``DecryptionFailed`` for any change to the envelope or a wrong key."""
    try:
        return aes.decrypt(envelope.iv, envelope.sealed, envelope.head)
    except InvalidTag:
        raise DecryptionFailed from None


def _read_context(data: bytes) -> dict[str, str]:
    if not data:
        return {}
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedEnvelope("the EncryptionContext is not JSON") from None
    if not isinstance(value, dict) or not value:
        raise MalformedEnvelope("the EncryptionContext is not a non-empty JSON object")
    try:
        canonical = context_json(value)
    except ValueError:
        raise MalformedEnvelope(
            "the EncryptionContext holds a value that is not a string"
        ) from None
    if canonical != data:
        raise MalformedEnvelope("the EncryptionContext is not in canonical form")
    return value
