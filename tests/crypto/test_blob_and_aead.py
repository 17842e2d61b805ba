"""The blob layout (DESIGN §5), its Advance variant, and AEAD failures that say nothing."""

from __future__ import annotations

import base64
import os
import pickle
import uuid

import pytest

from mamori.crypto import blob
from mamori.crypto.aead import AeadKey, DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import SPECS, Cipher


def test_layout_is_version_id_iv_ciphertext_tag() -> None:
    version_id = str(uuid.uuid4())
    iv, sealed = os.urandom(12), os.urandom(5 + 16)
    raw = base64.b64decode(blob.encode(version_id, iv, sealed))
    assert raw == version_id.encode() + iv + sealed
    parsed = blob.decode(base64.b64encode(raw).decode())
    assert (parsed.version_id, parsed.iv, parsed.sealed) == (version_id, iv, sealed)


def test_advance_prefix_parses_to_the_same_blob() -> None:
    version_id = str(uuid.uuid4())
    text = blob.encode(version_id, b"\x01" * 12, b"\x02" * 20, advance=True)
    assert base64.b64decode(text).startswith(b"$\x00\x02")
    assert blob.decode(text) == blob.decode(blob.encode(version_id, b"\x01" * 12, b"\x02" * 20))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"x" * 63).decode(),
        base64.b64encode(b"\xff" * 80).decode(),
    ],
)
def test_malformed_blobs_are_rejected_before_slicing(text: str) -> None:
    with pytest.raises(blob.MalformedBlob):
        blob.decode(text)


@pytest.mark.parametrize(
    "cipher,size", [(Cipher.AES_GCM, 32), (Cipher.AES_GCM, 16), (Cipher.SM4_GCM, 16)]
)
def test_seal_open_and_every_failure_is_the_same_exception(cipher: Cipher, size: int) -> None:
    key = AeadKey(cipher, KeyMaterial(os.urandom(size)))
    iv, sealed = key.seal(b"attack at dawn", b"aad")
    assert key.open(iv, sealed, b"aad") == b"attack at dawn"
    tampered = bytes([sealed[0] ^ 1]) + sealed[1:]
    other = AeadKey(cipher, KeyMaterial(os.urandom(size)))
    for attempt in (
        lambda: key.open(iv, sealed, b"other aad"),
        lambda: key.open(iv, tampered, b"aad"),
        lambda: other.open(iv, sealed, b"aad"),
        lambda: key.open(iv[:-1], sealed, b"aad"),
        lambda: key.open(iv, sealed[:10], b"aad"),
    ):
        with pytest.raises(DecryptionFailed):
            attempt()


def test_sm4_gcm_known_answer() -> None:
    # GB/T 36624-2018 / RFC 8998 appendix A.1 SM4-GCM test vector.
    key = AeadKey(Cipher.SM4_GCM, KeyMaterial(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")))
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    _, sealed = key.seal(plaintext, aad, iv=iv)
    assert sealed[-16:].hex().upper() == "83DE3541E4C2B58177E065A9BF7B62EC"
    assert sealed[:16].hex().upper() == "17F399F08C67D5EE19D0DC9969C4BB7D"


def test_key_material_never_shows_or_pickles() -> None:
    material = KeyMaterial(b"\x13" * 32)
    assert "13" not in repr(material) and "redacted" in repr(material)
    with pytest.raises(TypeError):
        pickle.dumps(material)
    with pytest.raises(TypeError):
        pickle.dumps(AeadKey(Cipher.AES_GCM, material))


def test_every_symmetric_spec_has_a_usage_and_a_cipher() -> None:
    for spec in SPECS.values():
        if spec.symmetric:
            assert spec.usages and spec.material_bytes in (16, 24, 32)
