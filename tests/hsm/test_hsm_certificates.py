"""Certificates whose private key is in the token: on a server with an HSM, CreateCertificate
with ``ExportablePrivateKey=false`` makes the key pair in SoftHSM2, signs the CSR there, and
CertificatePrivateKeySign / CertificatePrivateKeyDecrypt run there. Checked through the old SDK
(the only official client with the certificate family), a CA made here, ``cryptography``,
``openssl`` and a second python-pkcs11 session."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
from aliyunsdkkms.request.v20160120.CertificatePrivateKeyDecryptRequest import (
    CertificatePrivateKeyDecryptRequest,
)
from aliyunsdkkms.request.v20160120.CertificatePublicKeyEncryptRequest import (
    CertificatePublicKeyEncryptRequest,
)
from aliyunsdkkms.request.v20160120.CreateCertificateRequest import CreateCertificateRequest
from aliyunsdkkms.request.v20160120.DeleteCertificateRequest import DeleteCertificateRequest
from aliyunsdkkms.request.v20160120.DescribeCertificateRequest import DescribeCertificateRequest
from aliyunsdkkms.request.v20160120.UploadCertificateRequest import UploadCertificateRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import ObjectClass
from sqlalchemy import create_engine, func, select

from mamori.hsm import Token
from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import OldSdk, b64
from tests.compat.test_certificates import (
    NAMES,
    SUBJECT,
    Ca,
    _openssl_verifies,
    call,
    create,
    fails,
    sign,
    verify,
)
from tests.compat.test_certificates import ca as ca  # the module's CA fixture
from tests.conftest import ServerProcess
from tests.hsm.conftest import token_labels
from tests.hsm.softhsm import SoftHsm, probe

PREFIX = "mamori/certificate/"


def _stored_keys(server: ServerProcess) -> dict[str, tuple[str, bytes]]:
    """Every certificate's protection level and stored private key column, by id."""
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.certificates.c.id,
                t.certificates.c.protection_level,
                t.certificates.c.wrapped_private_key,
            )
        ).all()
    engine.dispose()
    return {r.id: (r.protection_level, bytes(r.wrapped_private_key)) for r in rows}


def _count(server: ServerProcess) -> int:
    engine = create_engine(normalize_url(server.store_url))
    with engine.connect() as conn:
        found = conn.execute(select(func.count()).select_from(t.certificates)).scalar_one()
    engine.dispose()
    return int(found)


def _upload(old: OldSdk, ca: Ca, cert_id: str, csr: str, spec: str) -> str:
    leaf = ca.issue(csr, spec)
    call(old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf,
         CertificateChain=ca.chain)  # fmt: skip
    return leaf


def _cryptography_verifies(leaf: str, algorithm: str, message: bytes, signature: bytes) -> None:
    public = x509.load_pem_x509_certificate(leaf.encode()).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if algorithm == "RSA_PSS_SHA_256":
            pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
        public.verify(signature, message, pad, hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    ("spec", "algorithms"),
    [("RSA_2048", ["RSA_PKCS1_SHA_256", "RSA_PSS_SHA_256"]), ("EC_P256", ["ECDSA_SHA_256"])],
)
def test_non_exportable_certificate_key_lives_in_the_token(
    hsm_old: OldSdk,
    hsm_server: ServerProcess,
    softhsm: SoftHsm,
    ca: Ca,
    tmp_path: Path,
    spec: str,
    algorithms: list[str],
) -> None:
    cert_id, csr = create(hsm_old, spec, ExportablePrivateKey=False)
    label = PREFIX + cert_id
    # The CSR is signed by the token key: cryptography checks it against the key it carries.
    request = x509.load_pem_x509_csr(csr.encode())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == SUBJECT
    sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES
    (tmp_path / "req.pem").write_text(csr)
    subprocess.run(["openssl", "req", "-in", tmp_path / "req.pem", "-noout", "-verify"],
                   check=True, capture_output=True)  # fmt: skip
    described = call(hsm_old, DescribeCertificateRequest, CertificateId=cert_id)
    assert (described["ProtectionLevel"], described["ExportablePrivateKey"]) == ("HSM", False)
    # The store holds a reference to the token object, nothing else.
    assert _stored_keys(hsm_server)[cert_id] == ("HSM", f"pkcs11:{label}".encode())
    # A second python-pkcs11 session (another process, the user PIN) cannot read the key.
    found = probe(softhsm, label, "private")
    assert found["count"] == 1 and found["id"] == label
    assert found["extractable"] is False and found["never_extractable"] is True
    assert found["sensitive"] is True and found["always_sensitive"] is True
    assert found["value"] == "AttributeSensitive"
    assert found["wrap"] in ("KeyUnextractable", "KeyNotWrappable")
    # The request carries the token pair's public key, the one DescribeCertificate reports.
    assert probe(softhsm, label, "public")["count"] == 1
    spki = request.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(described["SubjectPublicKey"]) == spki

    leaf = _upload(hsm_old, ca, cert_id, csr, spec)
    message = b"signed inside the token " * 8
    for algorithm in algorithms:
        signature = sign(hsm_old, cert_id, algorithm, message)
        _cryptography_verifies(leaf, algorithm, message, signature)
        assert _openssl_verifies(tmp_path, leaf, algorithm, message, signature)
        assert verify(hsm_old, cert_id, algorithm, message, signature)
        by_digest = sign(hsm_old, cert_id, algorithm, hashlib.sha256(message).digest(), "DIGEST")
        _cryptography_verifies(leaf, algorithm, message, by_digest)

    call(hsm_old, DeleteCertificateRequest, CertificateId=cert_id)
    assert probe(softhsm, label, "private")["count"] == 0
    assert probe(softhsm, label, "public")["count"] == 0
    assert cert_id not in _stored_keys(hsm_server)
    assert fails(hsm_old, DescribeCertificateRequest, CertificateId=cert_id) == (
        "Certificate.NotFound",
        404,
    )


def test_token_certificate_decrypts_what_its_public_key_encrypted(hsm_old: OldSdk, ca: Ca) -> None:
    cert_id, csr = create(hsm_old, "RSA_2048", ExportablePrivateKey=False)
    leaf = _upload(hsm_old, ca, cert_id, csr, "RSA_2048")
    secret = b"data key bytes \x00\xff" * 4
    # SoftHSM2 runs OAEP with SHA-1 only (docs/hsm.md): that is the algorithm it offers.
    algorithm = "RSAES_OAEP_SHA_1"
    sealed = call(
        hsm_old, CertificatePublicKeyEncryptRequest, CertificateId=cert_id, Algorithm=algorithm,
        Plaintext=b64(secret),
    )["CiphertextBlob"]  # fmt: skip
    opened = call(
        hsm_old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id,
        Algorithm=algorithm, CiphertextBlob=sealed,
    )  # fmt: skip
    assert base64.b64decode(opened["Plaintext"]) == secret
    # Made outside Mamori with the certificate's public key, opened in the token.
    public = x509.load_pem_x509_certificate(leaf.encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    outside = public.encrypt(secret, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    opened = call(
        hsm_old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id,
        Algorithm=algorithm, CiphertextBlob=b64(outside),
    )  # fmt: skip
    assert base64.b64decode(opened["Plaintext"]) == secret
    tampered = bytearray(outside)
    tampered[-1] ^= 1
    assert fails(
        hsm_old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id,
        Algorithm=algorithm, CiphertextBlob=b64(bytes(tampered)),
    ) == ("InvalidParameter", 400)  # fmt: skip
    # An algorithm of the spec that the token cannot run is refused, as for HSM keys.
    sha256 = public.encrypt(
        secret, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    )
    assert fails(
        hsm_old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id,
        Algorithm="RSAES_OAEP_SHA_256", CiphertextBlob=b64(sha256),
    ) == ("Rejected.UnsupportedOperation", 400)  # fmt: skip


def test_sm2_non_exportable_is_refused_on_an_hsm_server(
    hsm_old: OldSdk, hsm_server: ServerProcess, softhsm: SoftHsm, token: Token
) -> None:
    # ``token``: this process logs in, so that ``token_labels`` sees the private objects.
    before = (_count(hsm_server), token_labels(softhsm, PREFIX, ObjectClass.PUBLIC_KEY))
    assert fails(
        hsm_old, CreateCertificateRequest, Subject=SUBJECT, KeySpec="EC_SM2",
        ExportablePrivateKey=False,
    ) == ("Unsupported.ProtectionLevel", 400)  # fmt: skip
    assert (_count(hsm_server), token_labels(softhsm, PREFIX, ObjectClass.PUBLIC_KEY)) == before
    # An exportable SM2 key (the default) is made in software as before.
    cert_id, _ = create(hsm_old, "EC_SM2")
    described = call(hsm_old, DescribeCertificateRequest, CertificateId=cert_id)
    assert described["ProtectionLevel"] == "SOFTWARE"


def test_exportable_certificates_stay_in_software_on_an_hsm_server(
    hsm_old: OldSdk, hsm_server: ServerProcess
) -> None:
    for extra in ({}, {"ExportablePrivateKey": True}):
        cert_id, csr = create(hsm_old, "EC_P256", **extra)
        assert x509.load_pem_x509_csr(csr.encode()).is_signature_valid
        described = call(hsm_old, DescribeCertificateRequest, CertificateId=cert_id)
        assert (described["ProtectionLevel"], described["ExportablePrivateKey"]) == (
            "SOFTWARE",
            True,
        )
        level, stored = _stored_keys(hsm_server)[cert_id]
        assert level == "SOFTWARE" and not stored.startswith(b"pkcs11:")
