"""crypto/asymmetric.py, crypto/sm2.py and crypto/mac.py: round trips, encodings, limits and
the refusal to print or pickle private keys."""

from __future__ import annotations

import os
import pickle

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from mamori.crypto import asymmetric, sm2
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.asymmetric import PrivateKey, PublicKey, UnsupportedKey
from mamori.crypto.mac import MacKey
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import DIGEST_BYTES, SPECS, KeyUsage


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.asymmetric])
def test_every_asymmetric_spec_signs_or_encrypts_round_trip(name: str) -> None:
    spec = SPECS[name]
    key = PrivateKey(spec, asymmetric.generate(spec))
    for algorithm in spec.signing:
        digest = os.urandom(DIGEST_BYTES[algorithm] or 100)
        signature = key.sign(algorithm, digest)
        assert key.public.verify(algorithm, digest, signature)
        assert not key.public.verify(algorithm, os.urandom(len(digest)), signature)
        assert not key.public.verify(algorithm, digest, b"\x30\x00")
    for algorithm in spec.encryption:
        limit = asymmetric.max_plaintext(spec, algorithm)
        data = os.urandom(limit)
        assert key.decrypt(algorithm, key.public.encrypt(algorithm, data)) == data
        with pytest.raises(DecryptionFailed):
            key.decrypt(algorithm, b"not a ciphertext")
    assert PublicKey(spec, key.public.der()).der() == key.public.der()


def test_usage_tables_are_consistent() -> None:
    for spec in SPECS.values():
        for usage in KeyUsage:
            if spec.algorithms(usage):
                assert spec.supports(usage), spec.name
        assert all(a in DIGEST_BYTES for a in spec.signing)


def test_sm2_public_keys_load_in_openssl_form() -> None:
    key = PrivateKey(SPECS["EC_SM2"], sm2.generate())
    der = key.public.der()
    assert len(der) == sm2.SPKI_BYTES
    with pytest.raises(UnsupportedKey):
        PublicKey(SPECS["EC_SM2"], der[:-1])
    with pytest.raises(UnsupportedKey):
        PublicKey(SPECS["EC_SM2"], der[:-64] + b"\x01" * 64)  # not on the curve
    with pytest.raises(sm2.Sm2Error):
        sm2.encrypt(sm2.point_from_spki(der), b"x" * (sm2.MAX_PLAINTEXT + 1))


def test_a_public_key_of_another_spec_is_refused() -> None:
    p256 = PrivateKey(SPECS["EC_P256"], asymmetric.generate(SPECS["EC_P256"])).public.der()
    for name in ("RSA_2048", "EC_P256K", "EC_ED25519", "EC_SM2"):
        with pytest.raises(UnsupportedKey):
            PublicKey(SPECS[name], p256)
    with pytest.raises(UnsupportedKey):
        PublicKey(SPECS["RSA_2048"], b"junk")


def test_private_keys_do_not_print_or_pickle() -> None:
    for name in ("RSA_2048", "EC_SM2"):
        material = asymmetric.generate(SPECS[name])
        key = PrivateKey(SPECS[name], material)
        assert "redacted" in repr(key) and "redacted" in repr(material)
        with pytest.raises(TypeError):
            pickle.dumps(key)
    mac = MacKey("HMAC_SM3", KeyMaterial(os.urandom(32)))
    assert "redacted" in repr(mac)
    with pytest.raises(TypeError):
        pickle.dumps(mac)


def test_rsa_material_is_pkcs8() -> None:
    material = asymmetric.generate(SPECS["RSA_2048"]).reveal()
    assert serialization.load_der_private_key(material, None).key_size == 2048  # type: ignore[union-attr]


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def test_hmac_sm3_is_rfc_2104_over_sm3() -> None:
    """Recompute HMAC from its definition (64-byte block, ipad/opad) over plain SM3."""
    key = os.urandom(32)
    padded = key.ljust(64, b"\0")
    inner = _sm3(bytes(b ^ 0x36 for b in padded) + b"abc")
    expected = _sm3(bytes(b ^ 0x5C for b in padded) + inner)
    mac = MacKey("HMAC_SM3", KeyMaterial(key))
    assert mac.mac(b"abc") == expected
    assert mac.verify(b"abc", expected)
    assert not mac.verify(b"abd", expected)
