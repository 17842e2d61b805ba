"""Envelope encryption with Mamori's own client: seal data locally under a fresh data key from
``GenerateDataKey``, open it with the data key ``Decrypt`` unwraps. The bytes are those of
``mamori agent``'s ``/v1/envelope`` endpoints (format: ``mamori.crypto.envelope``), so a file
sealed by one opens with the other.

    from mamori.client import Client
    from mamori import envelope

    with Client("127.0.0.1:8443", ak, secret, ca_file=ca) as kms:
        blob = envelope.encrypt(kms, "alias/app", b"data", {"file": "a.txt"})
        assert envelope.decrypt(kms, blob, {"file": "a.txt"}) == b"data"

``client`` is a ``Client`` (the shared gateway, an AccessKey) or an ``InstanceClient`` (the
dedicated gateway, a client key: ``AdvanceGenerateDataKey`` / ``AdvanceDecrypt`` with the
context as the official SDK's ``Aad``); an envelope sealed through one opens through the other.
Each call here costs one KMS call; the agent's endpoints share cached data keys instead.
``encrypt_stream`` / ``decrypt_stream`` do the same for files of any size in constant memory
(format: ``mamori.crypto.envelope_stream``; ``mamori encrypt --file``). Imports no server code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.client import _instance_shapes as shapes
from mamori.crypto import envelope as fmt
from mamori.crypto import envelope_stream as stream
from mamori.crypto.envelope import DecryptionFailed, MalformedEnvelope
from mamori.wire import instance as api

if TYPE_CHECKING:
    from mamori.client import Client, InstanceClient

    # Either gateway's client.
    Kms = Client | InstanceClient

__all__ = [
    "DecryptionFailed",
    "MalformedEnvelope",
    "WrongKey",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
]

Progress = Callable[[int], None]


def encrypt(
    client: Kms, key_id: str, plaintext: bytes, context: Mapping[str, str] | None = None
) -> bytes:
    """Encrypt ``plaintext`` under a new data key of ``key_id``, bound to ``context``."""
    context_bytes = fmt.context_json(context)
    data_key, wrapped = _new_data_key(client, key_id, context_bytes)
    return fmt.seal(AESGCM(data_key), fmt.header(context_bytes, wrapped), plaintext)


def encrypt_stream(
    client: Kms,
    key_id: str,
    source: BinaryIO,
    sink: BinaryIO,
    context: Mapping[str, str] | None = None,
    *,
    chunk_size: int = stream.DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> None:
    """Encrypt everything ``source`` holds into ``sink``, one chunk in memory at a time;
    ``progress`` is told how many plaintext bytes each chunk held."""
    context_bytes = fmt.context_json(context)
    data_key, wrapped = _new_data_key(client, key_id, context_bytes)
    head = stream.new_header(context_bytes, wrapped, chunk_size)
    aes = AESGCM(data_key)
    sink.write(head)
    index = 0
    current = _read_full(source, chunk_size)
    while True:
        # A chunk is the last when nothing follows it: read one ahead to know.
        following = _read_full(source, chunk_size) if len(current) == chunk_size else b""
        last = not following
        sink.write(stream.seal_chunk(aes, head, index, current, last))
        if progress is not None:
            progress(len(current))
        if last:
            return
        current, index = following, index + 1


class WrongKey(Exception):
    """The envelope's data key was wrapped by ``key_id``, not by the key the caller required."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


def decrypt_stream(
    client: Kms,
    source: BinaryIO,
    sink: BinaryIO,
    context: Mapping[str, str] | None = None,
    *,
    progress: Progress | None = None,
    required_key_id: str | None = None,
) -> str:
    """Decrypt a streaming envelope from ``source`` into ``sink``; the KeyId (as ``Decrypt``
    answers it) of the key that opened it. Each chunk is written once it is authenticated, so
    when ``DecryptionFailed`` is raised (a changed, cut, reordered or extended file, or another
    ``context``) ``sink`` holds a prefix that must be discarded. With ``required_key_id`` (a
    KeyId, not an alias), a data key another key wrapped raises ``WrongKey`` before anything is
    written. ``progress`` is told how many file bytes each chunk took."""
    head = stream.read_stream_header(lambda size: _read_full(source, size))
    if head.context_bytes != fmt.context_json(context):
        raise DecryptionFailed
    data_key, key_id = _unwrap_naming_the_key(client, head.wrapped_key, head.context)
    if required_key_id is not None and key_id != required_key_id:
        raise WrongKey(key_id)
    aes = AESGCM(data_key)
    full = head.sealed_chunk_size
    index = 0
    current = _read_full(source, full)
    while True:
        following = _read_full(source, full) if len(current) == full else b""
        last = not following
        sink.write(stream.open_chunk(aes, head, index, current, last))
        if progress is not None:
            progress(len(current))
        if last:
            return key_id
        current, index = following, index + 1


def decrypt(client: Kms, blob: bytes, context: Mapping[str, str] | None = None) -> bytes:
    """Decrypt an envelope. ``context`` must equal the one it was sealed with: any other,
    like any change to the bytes, raises ``DecryptionFailed``; bytes that are not an envelope
    raise ``MalformedEnvelope``."""
    parsed = fmt.parse(blob)
    if parsed.context_bytes != fmt.context_json(context):
        raise DecryptionFailed
    return fmt.open_envelope(AESGCM(_unwrap(client, parsed.wrapped_key, parsed.context)), parsed)


def _new_data_key(client: Kms, key_id: str, context_bytes: bytes) -> tuple[bytes, bytes]:
    """(plaintext, wrapped) of a new 256-bit data key bound to the canonical context; the
    wrapped key in the shared gateway's form, whichever gateway made it."""
    from mamori.client import InstanceClient  # loaded on first use, as httpx is

    if isinstance(client, InstanceClient):
        context = json.loads(context_bytes) if context_bytes else None
        made_here = client.call(
            api.ADVANCE_GENERATE_DATA_KEY,
            KeyId=key_id,
            NumberOfBytes=fmt.DATA_KEY_BYTES,
            Aad=shapes.aad_of(context),
        )
        return made_here.Plaintext, shapes.shared_blob(made_here.CiphertextBlob)
    made = client.call(
        "GenerateDataKey",
        KeyId=key_id,
        NumberOfBytes=fmt.DATA_KEY_BYTES,
        EncryptionContext=context_bytes.decode("utf-8") or None,
    )
    wrapped = base64.b64decode(made["CiphertextBlob"], validate=True)
    return base64.b64decode(made["Plaintext"], validate=True), wrapped


def _unwrap(client: Kms, wrapped: bytes, context: Mapping[str, str]) -> bytes:
    return _unwrap_naming_the_key(client, wrapped, context)[0]


def _unwrap_naming_the_key(
    client: Kms, wrapped: bytes, context: Mapping[str, str]
) -> tuple[bytes, str]:
    from mamori.client import InstanceClient  # loaded on first use, as httpx is

    if isinstance(client, InstanceClient):
        answer = client.call(
            api.ADVANCE_DECRYPT,
            CiphertextBlob=shapes.advance_blob(wrapped),
            Aad=shapes.aad_of(context),
        )
        if len(answer.Plaintext) != fmt.DATA_KEY_BYTES:
            raise DecryptionFailed
        return answer.Plaintext, answer.KeyId
    opened = client.call(
        "Decrypt",
        CiphertextBlob=base64.b64encode(wrapped).decode("ascii"),
        EncryptionContext=json.dumps(dict(context)) if context else None,
    )
    try:
        data_key = base64.b64decode(opened["Plaintext"], validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionFailed from None
    if len(data_key) != fmt.DATA_KEY_BYTES:
        raise DecryptionFailed
    return data_key, str(opened.get("KeyId", ""))


def _read_full(source: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end (a pipe's ``read`` may return less)."""
    data = source.read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = source.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
