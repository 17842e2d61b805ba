"""Envelope encryption with Mamori's own client: seal data locally under a fresh data key from
``GenerateDataKey``, open it with the data key ``Decrypt`` unwraps. The bytes are those of
``mamori agent``'s ``/v1/envelope`` endpoints (format: ``mamori.crypto.envelope``), so a file
sealed by one opens with the other.

    from mamori.client import Client
    from mamori import envelope

    with Client("127.0.0.1:8443", ak, secret, ca_file=ca) as kms:
        blob = envelope.encrypt(kms, "alias/app", b"data", {"file": "a.txt"})
        assert envelope.decrypt(kms, blob, {"file": "a.txt"}) == b"data"

Each call here costs one KMS call; the agent's endpoints share cached data keys instead.
Imports no server code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.client import Client
from mamori.crypto import envelope as fmt
from mamori.crypto.envelope import DecryptionFailed, MalformedEnvelope

__all__ = ["DecryptionFailed", "MalformedEnvelope", "decrypt", "encrypt"]


def encrypt(
    client: Client, key_id: str, plaintext: bytes, context: Mapping[str, str] | None = None
) -> bytes:
    """Encrypt ``plaintext`` under a new data key of ``key_id``, bound to ``context``."""
    context_bytes = fmt.context_json(context)
    made = client.call(
        "GenerateDataKey",
        KeyId=key_id,
        NumberOfBytes=fmt.DATA_KEY_BYTES,
        EncryptionContext=context_bytes.decode("utf-8") or None,
    )
    wrapped = base64.b64decode(made["CiphertextBlob"], validate=True)
    data_key = base64.b64decode(made["Plaintext"], validate=True)
    return fmt.seal(AESGCM(data_key), fmt.header(context_bytes, wrapped), plaintext)


def decrypt(client: Client, blob: bytes, context: Mapping[str, str] | None = None) -> bytes:
    """Decrypt an envelope. ``context`` must equal the one it was sealed with: any other,
    like any change to the bytes, raises ``DecryptionFailed``; bytes that are not an envelope
    raise ``MalformedEnvelope``."""
    parsed = fmt.parse(blob)
    if parsed.context_bytes != fmt.context_json(context):
        raise DecryptionFailed
    opened = client.call(
        "Decrypt",
        CiphertextBlob=base64.b64encode(parsed.wrapped_key).decode("ascii"),
        EncryptionContext=json.dumps(parsed.context) if parsed.context else None,
    )
    try:
        data_key = base64.b64decode(opened["Plaintext"], validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionFailed from None
    return fmt.open_envelope(AESGCM(data_key), parsed)
