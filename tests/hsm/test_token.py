"""``mamori.hsm`` against a real SoftHSM2 token, in process: the bytes match the software AEAD,
bad ciphertexts get the one opaque error, and concurrent threads share the session safely."""

from __future__ import annotations

import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from mamori.crypto.aead import AeadKey, DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import Cipher
from mamori.hsm import HsmConfig, Token
from tests.hsm.softhsm import SoftHsm


def test_generate_find_and_destroy(token: Token) -> None:
    made = token.generate_aes("unit/one", 256)
    found = token.aead("unit/one")
    assert found is not None
    iv, sealed = made.seal(b"data", b"aad")
    assert found.open(iv, sealed, b"aad") == b"data"
    token.destroy("unit/one")
    assert token.aead("unit/one") is None


def test_token_bytes_are_the_software_bytes(softhsm: SoftHsm, token: Token) -> None:
    raw = os.urandom(32)
    # A second session shares the first one's login. The key is imported with a known value
    # (and left extractable) only so this test can compare against the software AEAD.
    session = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label).open(rw=True)
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: raw,
            Attribute.LABEL: "unit/known",
            Attribute.TOKEN: False,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
        }
    )
    in_token = token.aead("unit/known")
    assert in_token is not None
    software = AeadKey(Cipher.AES_GCM, KeyMaterial(raw))
    for aad in (b"", b"context-hash"):
        iv, sealed = in_token.seal(b"same bytes", aad)
        assert software.open(iv, sealed, aad) == b"same bytes"
        iv, sealed = software.seal(b"back again", aad)
        assert in_token.open(iv, sealed, aad) == b"back again"
    session.close()


def test_bad_ciphertexts_fail_opaquely(token: Token) -> None:
    aead = token.generate_aes("unit/bad", 128)
    iv, sealed = aead.seal(b"payload", b"aad")
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    for args in ((iv, flipped, b"aad"), (iv, sealed, b"other"), (iv[:8], sealed, b"aad")):
        with pytest.raises(DecryptionFailed):
            aead.open(*args)
    with pytest.raises(DecryptionFailed):
        aead.open(iv, sealed[:10], b"aad")
    token.destroy("unit/bad")


def test_threads_share_the_session(token: Token) -> None:
    aead = token.generate_aes("unit/threads", 256)

    def work(n: int) -> bool:
        for i in range(100):
            data = f"{n}-{i}".encode()
            iv, sealed = aead.seal(data, b"t")
            if aead.open(iv, sealed, b"t") != data:
                return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))
    token.destroy("unit/threads")


def test_nothing_secret_prints_or_pickles(softhsm: SoftHsm, token: Token) -> None:
    assert softhsm.pin not in repr(token)
    assert softhsm.pin not in repr(HsmConfig(softhsm.module, softhsm.label, softhsm.pin))
    aead = token.generate_aes("unit/pickle", 256)
    with pytest.raises(TypeError):
        pickle.dumps(aead)
    token.destroy("unit/pickle")
