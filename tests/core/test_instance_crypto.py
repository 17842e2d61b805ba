"""The instance API's crypto semantics (core/instance_crypto.py) on a real store: versions,
Advance blobs, both AAD forms, block modes, the refusals, and blobs shared with the shared
gateway's Encrypt/Decrypt. The official SDKs drive the same code in tests/gateway/instance."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mamori.app import Services
from mamori.core.errors import CiphertextInvalid, DomainError, InvalidInput, Unsupported
from mamori.core.instance_crypto import caller_aad, random_bytes
from mamori.core.keys import NewKey
from mamori.core.refs import Scope
from mamori.crypto import blob
from mamori.crypto.context import canonical
from tests.core.conftest import FakeClock

CONTEXT = {"tenant": "acme", "purpose": "backup"}
HEX_AAD = hashlib.sha256(canonical(CONTEXT).encode()).hexdigest().encode()
RAW_AAD = hashlib.sha256(canonical(CONTEXT).encode()).digest()


def _key(
    services: Services, scope: Scope, spec: str = "Aliyun_AES_256", usage: str | None = None
) -> str:
    return services.keys.create(scope, "tester", NewKey(spec=spec, usage=usage)).id


def _code(exc: pytest.ExceptionInfo[DomainError]) -> tuple[str, object]:
    return exc.value.code, exc.value.fields.get("name")


def test_encrypt_uses_the_initial_version_after_rotation(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    ops = services.instance_crypto
    key = _key(services, scope)
    first = ops.encrypt(ops.key_target(scope, key), b"hello", "", b"", b"", "")
    clock.advance(1)
    services.keys.create_version(scope, key)
    again = ops.encrypt(ops.key_target(scope, key), b"hello", "", b"", b"", "")
    advance = ops.encrypt(ops.key_target(scope, key), b"hello", "", b"", b"", "", advance=True)
    assert first.version_id == again.version_id != advance.version_id
    assert len(first.iv) == 12 and len(first.ciphertext) == 5 + 16
    opened = ops.decrypt(ops.key_target(scope, key), first.ciphertext, "", b"", first.iv, "")
    assert opened.plaintext == b"hello"


def test_advance_blob_is_the_shared_blob_with_a_prefix(services: Services, scope: Scope) -> None:
    ops = services.instance_crypto
    key = _key(services, scope)
    for aad in (HEX_AAD, RAW_AAD):
        sealed = ops.encrypt(ops.key_target(scope, key), b"data", "", aad, b"", "", advance=True)
        assert sealed.ciphertext[:3] == b"$\x00\x02"
        # The shared gateway opens it with the EncryptionContext ...
        text = base64.b64encode(sealed.ciphertext[3:]).decode()
        assert services.crypto.decrypt(scope, text, CONTEXT).plaintext == b"data"
        # ... and AdvanceDecrypt with either AAD form, with or without the Iv repeated.
        for form in (HEX_AAD, RAW_AAD):
            target, parsed = ops.advance_target(scope, sealed.ciphertext, "")
            opened = ops.decrypt(target, sealed.ciphertext, "", form, sealed.iv, "", parsed)
            assert opened.plaintext == b"data"
        with pytest.raises(CiphertextInvalid):
            target, parsed = ops.advance_target(scope, sealed.ciphertext, "")
            ops.decrypt(target, sealed.ciphertext, "", b"other", b"", "", parsed)


def test_shared_blob_opens_through_the_transfer_path(services: Services, scope: Scope) -> None:
    ops = services.instance_crypto
    key = _key(services, scope)
    shared = services.crypto.encrypt(scope, key, b"secret", CONTEXT)
    parsed = blob.decode(shared.blob)
    for form in (HEX_AAD, RAW_AAD):
        target = ops.version_target(scope, parsed.version_id, "")
        opened = ops.decrypt(target, parsed.sealed, "", form, parsed.iv, "")
        assert opened.plaintext == b"secret"
    # The instance's plain Encrypt, rebuilt as the transfer client does, opens on the shared side.
    sealed = ops.encrypt(ops.key_target(scope, key), b"x", "", RAW_AAD, b"", "")
    text = base64.b64encode(sealed.version_id.encode() + sealed.iv + sealed.ciphertext).decode()
    assert services.crypto.decrypt(scope, text, CONTEXT).plaintext == b"x"


def test_a_header_naming_another_key_is_the_opaque_blob_error(
    services: Services, scope: Scope
) -> None:
    ops = services.instance_crypto
    key, other = _key(services, scope), _key(services, scope)
    sealed = ops.encrypt(ops.key_target(scope, key), b"x", "", b"", b"", "")
    with pytest.raises(CiphertextInvalid):
        ops.version_target(scope, sealed.version_id, other)
    with pytest.raises(CiphertextInvalid):
        ops.version_target(scope, "not-a-version", "")


@pytest.mark.parametrize(
    ("algorithm", "padding", "plaintext"),
    [
        ("AES_CBC", "", b"odd length"),
        ("AES_CBC", "NO_PADDING", b"0123456789abcdef"),
        ("AES_ECB", "PKCS7_PADDING", b"x" * 40),
    ],
)
def test_block_modes_round_trip(
    services: Services, scope: Scope, algorithm: str, padding: str, plaintext: bytes
) -> None:
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope))
    sealed = ops.encrypt(target, plaintext, algorithm, b"", b"", padding)
    assert sealed.padding_mode == (padding or "PKCS7_PADDING")
    assert len(sealed.iv) == (16 if algorithm == "AES_CBC" else 0)
    opened = ops.decrypt(target, sealed.ciphertext, algorithm, b"", sealed.iv, padding)
    assert opened.plaintext == plaintext


def test_block_modes_do_not_use_the_gcm_key(services: Services, scope: Scope) -> None:
    """ECB of the counter block J0+1 would be the GCM keystream if the keys were shared."""
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope))
    sealed = ops.encrypt(target, bytes(16), "", b"", b"", "")
    counter = sealed.iv + (2).to_bytes(4, "big")
    ecb = ops.encrypt(target, counter, "AES_ECB", b"", b"", "NO_PADDING")
    assert ecb.ciphertext != sealed.ciphertext[:16]


@pytest.mark.parametrize(
    ("algorithm", "aad", "iv", "padding", "name"),
    [
        ("", b"", b"\x00" * 12, "", "Iv"),  # no caller-chosen GCM IV
        ("", b"", b"", "PKCS7_PADDING", "PaddingMode"),
        ("AES_CBC", b"aad", b"", "", "Aad"),
        ("AES_CBC", b"", b"short", "", "Iv"),
        ("AES_ECB", b"", b"", "ZERO_PADDING", "PaddingMode"),
        ("SM4_CBC", b"", b"", "", "Algorithm"),
        ("DES", b"", b"", "", "Algorithm"),
    ],
)
def test_parameters_that_cannot_apply_are_refused(
    services: Services, scope: Scope, algorithm: str, aad: bytes, iv: bytes, padding: str, name: str
) -> None:
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope))
    with pytest.raises(InvalidInput) as exc:
        ops.encrypt(target, b"0123456789abcdef", algorithm, aad, iv, padding)
    assert _code(exc) == ("InvalidParameter", name)


def test_sign_raw_equals_sign_digest(services: Services, scope: Scope) -> None:
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope, "EC_P256"))
    message = b"to be signed"
    digest = hashlib.sha256(message).digest()
    _v, algorithm, raw_sig = ops.sign(target, "", "RAW", message, b"")
    assert algorithm == "ECDSA_SHA_256"
    assert ops.verify(target, "", "DIGEST", digest, b"", raw_sig)[2]
    _v, _a, digest_sig = ops.sign(target, "", "DIGEST", digest, b"")
    assert ops.verify(target, "", "RAW", message, b"", digest_sig)[2]
    assert not ops.verify(target, "", "RAW", b"other", b"", digest_sig)[2]
    with pytest.raises(InvalidInput) as exc:
        ops.sign(target, "", "DIGEST", b"short", b"")
    assert _code(exc) == ("InvalidParameter", "Message")
    with pytest.raises(InvalidInput) as exc:
        ops.sign(target, "", "HASHED", message, b"")
    assert _code(exc) == ("InvalidParameter", "MessageType")


def test_asymmetric_encrypt_and_public_key(services: Services, scope: Scope) -> None:
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope, "RSA_2048", "ENCRYPT/DECRYPT"))
    sealed = ops.encrypt(target, b"k", "RSAES_OAEP_SHA_256", b"", b"", "")
    assert (
        ops.decrypt(target, sealed.ciphertext, "RSAES_OAEP_SHA_256", b"", b"", "").plaintext == b"k"
    )
    version_id, pem = ops.public_key(target)
    assert version_id == sealed.version_id and pem.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(Unsupported):
        ops.encrypt(target, b"k", "", b"", b"", "", advance=True)


def test_data_key_pair_private_key_opens(services: Services, scope: Scope) -> None:
    ops = services.instance_crypto
    target = ops.key_target(scope, _key(services, scope))
    pair = ops.generate_data_key_pair(target, "", "EC_P256", "DER", b"", advance=True)
    target2, parsed = ops.advance_target(scope, pair.sealed.ciphertext, "")
    opened = ops.decrypt(target2, pair.sealed.ciphertext, "", b"", b"", "", parsed)
    assert opened.plaintext == pair.private_key
    with pytest.raises(InvalidInput) as exc:
        ops.generate_data_key_pair(target, "", "EC_SM2", "PEM", b"")
    assert _code(exc) == ("InvalidParameter", "KeyPairSpec")


def test_aad_forms_and_random() -> None:
    assert caller_aad(RAW_AAD) == HEX_AAD
    assert caller_aad(HEX_AAD) == HEX_AAD
    assert caller_aad(b"short") == b"short"
    assert len(random_bytes(1024)) == 1024
    for bad in (0, 1025):
        with pytest.raises(InvalidInput):
            random_bytes(bad)
