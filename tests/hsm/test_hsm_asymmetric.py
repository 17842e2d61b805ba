"""ProtectionLevel=HSM for RSA, EC and HMAC keys through the official SDKs: the keys are made
in a SoftHSM2 token, sign, decrypt and MAC there, and what they produce is checked outside
Mamori with ``cryptography`` and the ``openssl`` command."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pkcs11
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkkms.request.v20160120.AsymmetricSignRequest import AsymmetricSignRequest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pkcs11 import Attribute, KeyType, ObjectClass

from mamori.crypto.specs import SPECS
from mamori.hsm import Token
from tests.compat.asym_helpers import openssl_encrypt, openssl_verifies, public_pem
from tests.compat.sdk import OldSdk, b64, expect_error
from tests.conftest import ServerProcess
from tests.hsm.conftest import token_labels
from tests.hsm.softhsm import SoftHsm, probe
from tests.hsm.test_hsm_at_rest import _version_rows

MESSAGE = b"code signing wants its keys in an HSM"
HMAC_SPECS = ["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"]
_HASHES = {
    "HMAC_SHA_224": "sha224",
    "HMAC_SHA_256": "sha256",
    "HMAC_SHA_384": "sha384",
    "HMAC_SHA_512": "sha512",
}


def hsm_key(kms: Client, spec: str, usage: str | None = None) -> tuple[str, str]:
    """A new HSM key; (key id, primary version id), after DescribeKey shows it on HSM."""
    request = km.CreateKeyRequest(key_spec=spec, key_usage=usage, protection_level="HSM")
    meta = kms.create_key(request).body.key_metadata
    described = kms.describe_key(km.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert (described.protection_level, described.key_spec) == ("HSM", spec)
    return str(meta.key_id), str(meta.primary_key_version)


def sign(kms: Client, key: str, version: str, algorithm: str, digest: bytes) -> bytes:
    request = km.AsymmetricSignRequest(
        key_id=key, key_version_id=version, algorithm=algorithm, digest=b64(digest)
    )
    return base64.b64decode(kms.asymmetric_sign(request).body.value)


def server_verifies(
    kms: Client, key: str, version: str, algorithm: str, digest: bytes, signature: bytes
) -> bool:
    request = km.AsymmetricVerifyRequest(
        key_id=key,
        key_version_id=version,
        algorithm=algorithm,
        digest=b64(digest),
        value=b64(signature),
    )
    return bool(kms.asymmetric_verify(request).body.value)


def cryptography_verifies(pem: str, algorithm: str, digest: bytes, signature: bytes) -> bool:
    """An independent check with ``cryptography``; ECDSA signatures must be DER."""
    public = serialization.load_pem_public_key(pem.encode())
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
            if algorithm == "RSA_PSS_SHA_256":
                pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            public.verify(signature, digest, pad, prehashed)
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            utils.decode_dss_signature(signature)  # DER, not PKCS#11's raw r ‖ s
            public.verify(signature, digest, ec.ECDSA(prehashed))
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("RSA_2048", "RSA_PSS_SHA_256"),
        ("RSA_2048", "RSA_PKCS1_SHA_256"),
        ("RSA_3072", "RSA_PSS_SHA_256"),
        ("EC_P256", "ECDSA_SHA_256"),
        ("EC_P256K", "ECDSA_SHA_256"),
    ],
)
def test_hsm_signatures_verify_outside_mamori(
    hsm_kms: Client, tmp_path: Path, spec: str, algorithm: str
) -> None:
    key, version = hsm_key(hsm_kms, spec, "SIGN/VERIFY")
    pem = public_pem(hsm_kms, key, version)
    digest = hashlib.sha256(MESSAGE).digest()
    signature = sign(hsm_kms, key, version, algorithm, digest)
    assert cryptography_verifies(pem, algorithm, digest, signature)
    assert openssl_verifies(tmp_path, spec, algorithm, pem, MESSAGE, signature)
    assert server_verifies(hsm_kms, key, version, algorithm, digest, signature)
    other = hashlib.sha256(b"another message").digest()
    assert not server_verifies(hsm_kms, key, version, algorithm, other, signature)
    # Digest input as for software keys: a digest that is not 32 bytes is refused.
    expect_error(
        "InvalidParameter", 400, lambda: sign(hsm_kms, key, version, algorithm, digest[:31])
    )


def test_rsa_decrypt_on_hsm_opens_oaep_sha1_made_outside(hsm_kms: Client, tmp_path: Path) -> None:
    key, version = hsm_key(hsm_kms, "RSA_2048", "ENCRYPT/DECRYPT")
    pem = public_pem(hsm_kms, key, version)
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    sha1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)

    def decrypt(ciphertext: bytes, algorithm: str = "RSAES_OAEP_SHA_1") -> bytes:
        request = km.AsymmetricDecryptRequest(
            key_id=key, key_version_id=version, algorithm=algorithm, ciphertext_blob=b64(ciphertext)
        )
        return base64.b64decode(hsm_kms.asymmetric_decrypt(request).body.plaintext)

    secret = os.urandom(214)  # the most RSAES_OAEP_SHA_1 takes under a 2048-bit key
    assert decrypt(public.encrypt(secret, sha1)) == secret
    assert decrypt(openssl_encrypt(tmp_path, "RSAES_OAEP_SHA_1", pem, b"from openssl")) == (
        b"from openssl"
    )
    made = hsm_kms.asymmetric_encrypt(
        km.AsymmetricEncryptRequest(
            key_id=key, key_version_id=version, algorithm="RSAES_OAEP_SHA_1", plaintext=b64(b"x")
        )
    ).body
    assert decrypt(base64.b64decode(made.ciphertext_blob)) == b"x"

    bad = bytearray(public.encrypt(b"y", sha1))
    bad[-1] ^= 1
    expect_error("InvalidParameter", 400, lambda: decrypt(bytes(bad)))
    # SoftHSM2 2.6 takes only SHA-1 in CKM_RSA_PKCS_OAEP: SHA-256 is refused both ways, not
    # encrypted to a key that could never decrypt it.
    sha256_ct = public.encrypt(
        b"z", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    )
    expect_error(
        "Rejected.UnsupportedOperation", 400, lambda: decrypt(sha256_ct, "RSAES_OAEP_SHA_256")
    )
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: hsm_kms.asymmetric_encrypt(
            km.AsymmetricEncryptRequest(
                key_id=key,
                key_version_id=version,
                algorithm="RSAES_OAEP_SHA_256",
                plaintext=b64(b"x"),
            )
        ),
    )


@pytest.mark.parametrize("spec", HMAC_SPECS)
def test_hsm_hmac_keys_generate_and_verify_macs(hsm_kms: Client, spec: str) -> None:
    key, _version = hsm_key(hsm_kms, spec)

    def generate(message: bytes) -> bytes:
        request = km.GenerateMacRequest(key_id=key, algorithm=spec, message=b64(message))
        return base64.b64decode(hsm_kms.generate_mac(request).body.mac)

    def verify(message: bytes, mac: bytes) -> bool:
        request = km.VerifyMacRequest(
            key_id=key, algorithm=spec, message=b64(message), mac=b64(mac)
        )
        return bool(hsm_kms.verify_mac(request).body.value)

    mac = generate(MESSAGE)
    assert len(mac) == SPECS[spec].material_bytes
    assert generate(MESSAGE) == mac
    assert generate(b"other") != mac
    assert verify(MESSAGE, mac)
    assert not verify(b"other", mac)
    assert not verify(MESSAGE, bytes([mac[0] ^ 1]) + mac[1:])


@pytest.mark.parametrize("spec", HMAC_SPECS)
def test_token_hmac_is_standard_hmac(token: Token, softhsm: SoftHsm, spec: str) -> None:
    """The token's secrets cannot be read, so the mechanism each spec maps to is checked on a
    key the test plants in the token with a known value, against ``hmac``."""
    secret = os.urandom(SPECS[spec].material_bytes)
    label = f"test/known-hmac/{spec}/{os.urandom(4).hex()}"
    # A second session in this process shares the ``token`` fixture's login.
    session = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label).open(rw=True)
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.LABEL: label,
            Attribute.VALUE: secret,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
            Attribute.TOKEN: True,
        }
    )
    try:
        mac = token.mac(label, SPECS[spec])
        assert mac is not None
        expected = hmac.new(secret, MESSAGE, _HASHES[spec]).digest()
        assert mac.mac(MESSAGE) == expected
        assert mac.verify(MESSAGE, expected)
    finally:
        token.destroy(label)
        session.close()


def test_soft_hsm_capabilities_are_probed_once(token: Token) -> None:
    found = token.capabilities()
    assert found is token.capabilities()
    assert found.rsa == {"RSA_PSS_SHA_256", "RSA_PKCS1_SHA_256", "RSAES_OAEP_SHA_1"}
    assert found.curves == {"EC_P256", "EC_P256K"}
    assert found.hmac == set(HMAC_SPECS)


def test_private_halves_cannot_be_read_from_the_token(
    hsm_kms: Client, hsm_server: ServerProcess, softhsm: SoftHsm
) -> None:
    made = {
        "RSA_2048": hsm_key(hsm_kms, "RSA_2048"),
        "EC_P256": hsm_key(hsm_kms, "EC_P256"),
        "HMAC_SHA_256": hsm_key(hsm_kms, "HMAC_SHA_256"),
    }
    for spec, (key, version) in made.items():
        label = f"mamori/key/{key}/{version}"
        kind = "secret" if spec.startswith("HMAC") else "private"
        # A second python-pkcs11 session, in another process, logged in with the user PIN.
        found = probe(softhsm, label, kind)
        assert found["count"] == 1 and found["id"] == label, spec
        assert found["extractable"] is False and found["never_extractable"] is True, spec
        assert found["sensitive"] is True and found["always_sensitive"] is True, spec
        assert found["token"] is True, spec
        assert found["value"] == "AttributeSensitive", spec
        assert found["wrap"] in ("KeyUnextractable", "KeyNotWrappable"), spec
        if kind == "private":
            assert probe(softhsm, label, "public")["count"] == 1, spec
        # The store holds the reference and nothing else.
        assert _version_rows(hsm_server, key) == [
            (version, f"pkcs11:mamori/key/{key}/{version}".encode())
        ], spec


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("EC_SM2", "ENCRYPT/DECRYPT"),
        ("EC_ED25519", None),
    ],
)
def test_specs_the_token_lacks_are_refused_at_creation(
    hsm_kms: Client, spec: str, usage: str | None
) -> None:
    before = hsm_kms.list_keys(km.ListKeysRequest(page_size=100)).body.total_count
    request = km.CreateKeyRequest(key_spec=spec, key_usage=usage, protection_level="HSM")
    expect_error("Unsupported.ProtectionLevel", 400, lambda: hsm_kms.create_key(request))
    assert hsm_kms.list_keys(km.ListKeysRequest(page_size=100)).body.total_count == before


@pytest.mark.parametrize("spec", ["EC_P256", "HMAC_SHA_256"])
def test_hsm_asymmetric_and_hmac_keys_do_not_rotate(
    hsm_kms: Client, token: Token, softhsm: SoftHsm, spec: str
) -> None:
    """As for software keys (spec §7.2): CreateKeyVersion is for symmetric keys, and a refused
    rotation leaves no new version and no new token object."""
    key, version = hsm_key(hsm_kms, spec)
    expect_error(
        "Rejected.UnsupportedOperation",
        400,
        lambda: hsm_kms.create_key_version(km.CreateKeyVersionRequest(key_id=key)),
    )
    versions = hsm_kms.list_key_versions(km.ListKeyVersionsRequest(key_id=key)).body
    assert [v.key_version_id for v in versions.key_versions.key_version] == [version]
    kind = ObjectClass.SECRET_KEY if spec.startswith("HMAC") else ObjectClass.PRIVATE_KEY
    assert token_labels(softhsm, f"mamori/key/{key}/", kind) == {f"mamori/key/{key}/{version}"}


def test_old_sdk_signs_with_an_hsm_key(hsm_old: OldSdk, hsm_kms: Client, tmp_path: Path) -> None:
    key, version = hsm_key(hsm_kms, "EC_P256")
    digest = hashlib.sha256(MESSAGE).digest()
    request = AsymmetricSignRequest()
    request.set_KeyId(key)
    request.set_KeyVersionId(version)
    request.set_Algorithm("ECDSA_SHA_256")
    request.set_Digest(b64(digest))
    signature = base64.b64decode(hsm_old.call(request)["Value"])
    pem = public_pem(hsm_kms, key, version)
    assert openssl_verifies(tmp_path, "EC_P256", "ECDSA_SHA_256", pem, MESSAGE, signature)
