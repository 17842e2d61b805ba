"""The certificate family through the old SDK (the only official client that has it): a CSR
from CreateCertificate, signed by a test CA made here, uploaded with its chain and used; every
refusal with its exact code."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import RpcRequest
from aliyunsdkkms.request.v20160120.CertificatePrivateKeyDecryptRequest import (
    CertificatePrivateKeyDecryptRequest,
)
from aliyunsdkkms.request.v20160120.CertificatePrivateKeySignRequest import (
    CertificatePrivateKeySignRequest,
)
from aliyunsdkkms.request.v20160120.CertificatePublicKeyEncryptRequest import (
    CertificatePublicKeyEncryptRequest,
)
from aliyunsdkkms.request.v20160120.CertificatePublicKeyVerifyRequest import (
    CertificatePublicKeyVerifyRequest,
)
from aliyunsdkkms.request.v20160120.CreateCertificateRequest import CreateCertificateRequest
from aliyunsdkkms.request.v20160120.DeleteCertificateRequest import DeleteCertificateRequest
from aliyunsdkkms.request.v20160120.DescribeCertificateRequest import DescribeCertificateRequest
from aliyunsdkkms.request.v20160120.GetCertificateRequest import GetCertificateRequest
from aliyunsdkkms.request.v20160120.TagResourceRequest import TagResourceRequest
from aliyunsdkkms.request.v20160120.UpdateCertificateStatusRequest import (
    UpdateCertificateStatusRequest,
)
from aliyunsdkkms.request.v20160120.UploadCertificateRequest import UploadCertificateRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.compat.sdk import OldSdk, b64

SUBJECT = "CN=signer.example.com,OU=kms,O=mamori,C=CN"
NAMES = ["signer.example.com", "www.example.com"]
SM2_ID = "distid:1234567812345678"


def call(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> dict[str, Any]:
    request = request_class()
    for name, value in params.items():
        getattr(request, f"set_{name}")(value)
    return old.call(request)


def fails(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> tuple[str, int]:
    with pytest.raises(ServerException) as info:
        call(old, request_class, **params)
    return info.value.get_error_code(), info.value.get_http_status()


@dataclass
class Ca:
    """A root and an intermediate CA (ECDSA P-256), made with ``cryptography``."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    inter: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey
    directory: Path

    @property
    def chain(self) -> str:
        return "".join(_pem(c) for c in (self.inter, self.root))

    def issue(self, csr_pem: str, spec: str, days: int = 30) -> str:
        """The leaf for a CSR: ``cryptography`` for RSA/EC; ``openssl`` for SM2, which
        ``cryptography`` cannot load."""
        if spec == "EC_SM2":
            return self._issue_sm2(csr_pem, days)
        request = x509.load_pem_x509_csr(csr_pem.encode())
        assert request.is_signature_valid
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.inter.subject)
            .public_key(request.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(request.public_key()), critical=False
            )
            .add_extension(
                request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
                critical=False,
            )
        )
        return _pem(builder.sign(self.inter_key, hashes.SHA256()))

    def _issue_sm2(self, csr_pem: str, days: int) -> str:
        d = self.directory
        (d / "sm2.csr").write_text(csr_pem)
        (d / "inter.pem").write_text(_pem(self.inter))
        (d / "inter.key").write_bytes(
            self.inter_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        subprocess.run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                d / "sm2.csr",
                "-CA",
                d / "inter.pem",
                "-CAkey",
                d / "inter.key",
                "-set_serial",
                "4660",
                "-days",
                str(days),
                "-copy_extensions",
                "copy",
                "-vfyopt",
                SM2_ID,
                "-out",
                d / "sm2.pem",
            ],
            check=True,
            capture_output=True,
        )
        return (d / "sm2.pem").read_text()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca_cert(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mamori Test Root")])
    root = _ca_cert("Mamori Test Root", root_key, root_name, root_key)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _ca_cert("Mamori Test Intermediate", inter_key, root.subject, root_key)
    return Ca(root, root_key, inter, inter_key, tmp_path_factory.mktemp("ca"))


def create(old: OldSdk, spec: str, **extra: Any) -> tuple[str, str]:
    body = call(
        old,
        CreateCertificateRequest,
        Subject=SUBJECT,
        KeySpec=spec,
        SubjectAlternativeNames=json.dumps(NAMES),
        **extra,
    )
    assert body["Arn"].endswith(f":certificate/{body['CertificateId']}")
    return str(body["CertificateId"]), str(body["Csr"])


def active(old: OldSdk, ca: Ca, spec: str) -> tuple[str, str]:
    """A certificate of ``spec``, uploaded and ACTIVE; returns (id, its PEM)."""
    cert_id, csr = create(old, spec)
    leaf = ca.issue(csr, spec)
    call(old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf,
         CertificateChain=ca.chain)  # fmt: skip
    return cert_id, leaf


def sign(old: OldSdk, cert_id: str, algorithm: str, message: bytes, kind: str = "RAW") -> bytes:
    body = call(
        old,
        CertificatePrivateKeySignRequest,
        CertificateId=cert_id,
        Algorithm=algorithm,
        MessageType=kind,
        Message=b64(message),
    )
    assert body["CertificateId"] == cert_id
    return base64.b64decode(body["SignatureValue"])


def verify(
    old: OldSdk, cert_id: str, algorithm: str, message: bytes, sig: bytes, kind: str = "RAW"
) -> bool:
    body = call(
        old,
        CertificatePublicKeyVerifyRequest,
        CertificateId=cert_id,
        Algorithm=algorithm,
        MessageType=kind,
        Message=b64(message),
        SignatureValue=b64(sig),
    )
    assert isinstance(body["SignatureValid"], bool)
    return bool(body["SignatureValid"])


def _openssl_verifies(
    tmp: Path, leaf: str, algorithm: str, message: bytes, signature: bytes
) -> bool:
    (tmp / "leaf.pem").write_text(leaf)
    pub = subprocess.run(
        ["openssl", "x509", "-in", tmp / "leaf.pem", "-noout", "-pubkey"],
        check=True,
        capture_output=True,
    ).stdout
    (tmp / "pub.pem").write_bytes(pub)
    (tmp / "msg").write_bytes(message)
    (tmp / "sig").write_bytes(signature)
    digest = "-sm3" if algorithm == "SM2DSA" else "-sha256"
    options = {
        "RSA_PSS_SHA_256": ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-2"],
        "SM2DSA": ["-sigopt", SM2_ID],
    }.get(algorithm, [])
    done = subprocess.run(
        [
            "openssl",
            "dgst",
            digest,
            "-verify",
            tmp / "pub.pem",
            "-signature",
            tmp / "sig",
            *options,
            tmp / "msg",
        ],
        capture_output=True,
    )
    return done.returncode == 0


SIGNING = [
    ("RSA_2048", "RSA_PKCS1_SHA_256"),
    ("RSA_2048", "RSA_PSS_SHA_256"),
    ("EC_P256", "ECDSA_SHA_256"),
    ("EC_SM2", "SM2DSA"),
]


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
def test_create_issue_upload_and_sign(
    old: OldSdk, ca: Ca, tmp_path: Path, spec: str, algorithm: str
) -> None:
    cert_id, csr = create(old, spec)
    if spec != "EC_SM2":
        request = x509.load_pem_x509_csr(csr.encode())
        assert request.is_signature_valid
        assert request.subject.rfc4514_string() == SUBJECT
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == NAMES
    else:
        (tmp_path / "req.pem").write_text(csr)
        subprocess.run(
            ["openssl", "req", "-in", tmp_path / "req.pem", "-noout", "-verify", "-vfyopt", SM2_ID],
            check=True,
            capture_output=True,
        )
    described = call(old, DescribeCertificateRequest, CertificateId=cert_id)
    assert (described["Status"], described["KeySpec"]) == ("PENDING", spec)
    leaf = ca.issue(csr, spec)
    call(old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf,
         CertificateChain=ca.chain)  # fmt: skip

    got = call(old, GetCertificateRequest, CertificateId=cert_id)
    assert x509.load_pem_x509_certificate(got["Certificate"].encode()) == (
        x509.load_pem_x509_certificate(leaf.encode())
    )
    assert (got["CertificateChain"], got["Csr"]) == (ca.chain, csr)
    described = call(old, DescribeCertificateRequest, CertificateId=cert_id)
    parsed = x509.load_pem_x509_certificate(leaf.encode())
    assert described["Status"] == "ACTIVE"
    assert described["Serial"] == format(parsed.serial_number, "x")
    assert described["Issuer"] == "CN=Mamori Test Intermediate"
    assert described["NotAfter"] == parsed.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert described["SubjectAlternativeNames"] == NAMES
    assert described["ProtectionLevel"] == "SOFTWARE"

    message = b"certificate-signed message " * 10
    signature = sign(old, cert_id, algorithm, message)
    assert _openssl_verifies(tmp_path, leaf, algorithm, message, signature)
    assert verify(old, cert_id, algorithm, message, signature)
    assert not verify(old, cert_id, algorithm, message + b"!", signature)
    if spec != "EC_SM2":
        public = parsed.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            pad = (
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
                if algorithm == "RSA_PSS_SHA_256"
                else padding.PKCS1v15()
            )
            public.verify(signature, message, pad, hashes.SHA256())
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        # DIGEST: the caller hashed; the same signature checks.
        digest = hashlib.sha256(message).digest()
        by_digest = sign(old, cert_id, algorithm, digest, "DIGEST")
        assert verify(old, cert_id, algorithm, message, by_digest)


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [("RSA_2048", "RSAES_OAEP_SHA_256"), ("RSA_2048", "RSAES_OAEP_SHA_1"), ("EC_SM2", "SM2PKE")],
)
def test_public_key_encrypt_then_private_key_decrypt(
    old: OldSdk, ca: Ca, spec: str, algorithm: str
) -> None:
    cert_id, leaf = active(old, ca, spec)
    secret = b"data key bytes \x00\xff" * 4
    sealed = call(
        old, CertificatePublicKeyEncryptRequest, CertificateId=cert_id, Algorithm=algorithm,
        Plaintext=b64(secret),
    )["CiphertextBlob"]  # fmt: skip
    opened = call(
        old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id, Algorithm=algorithm,
        CiphertextBlob=sealed,
    )  # fmt: skip
    assert base64.b64decode(opened["Plaintext"]) == secret
    if spec == "RSA_2048":
        # Ciphertext made outside with the certificate's key decrypts too.
        public = x509.load_pem_x509_certificate(leaf.encode()).public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        digest = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
        outside = public.encrypt(secret, padding.OAEP(padding.MGF1(digest), digest, None))
        opened = call(
            old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id,
            Algorithm=algorithm, CiphertextBlob=b64(outside),
        )  # fmt: skip
        assert base64.b64decode(opened["Plaintext"]) == secret
    tampered = bytearray(base64.b64decode(sealed))
    tampered[-1] ^= 1
    assert fails(
        old, CertificatePrivateKeyDecryptRequest, CertificateId=cert_id, Algorithm=algorithm,
        CiphertextBlob=b64(bytes(tampered)),
    ) == ("InvalidParameter", 400)  # fmt: skip


def test_upload_refuses_a_certificate_of_another_key(old: OldSdk, ca: Ca) -> None:
    mine, _csr = create(old, "EC_P256")
    _other, other_csr = create(old, "EC_P256")
    foreign = ca.issue(other_csr, "EC_P256")
    assert fails(
        old, UploadCertificateRequest, CertificateId=mine, Certificate=foreign,
        CertificateChain=ca.chain,
    ) == ("InvalidParameter", 400)  # fmt: skip
    assert call(old, DescribeCertificateRequest, CertificateId=mine)["Status"] == "PENDING"


def test_upload_refuses_a_chain_that_does_not_link(old: OldSdk, ca: Ca) -> None:
    cert_id, csr = create(old, "RSA_2048")
    leaf = ca.issue(csr, "RSA_2048")
    for chain in (_pem(ca.root), _pem(ca.root) + _pem(ca.inter), "not a certificate"):
        assert fails(
            old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf,
            CertificateChain=chain,
        ) == ("InvalidParameter", 400)  # fmt: skip
    assert fails(
        old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf + leaf,
        CertificateChain=ca.chain,
    ) == ("InvalidParameter", 400)  # fmt: skip
    assert call(old, DescribeCertificateRequest, CertificateId=cert_id)["Status"] == "PENDING"


def test_status_gates_the_operations(old: OldSdk, ca: Ca) -> None:
    pending, _csr = create(old, "EC_P256")
    message = b"status"
    args = {"Algorithm": "ECDSA_SHA_256", "MessageType": "RAW", "Message": b64(message)}
    refused = ("Rejected.UnsupportedOperation", 400)
    assert fails(old, CertificatePrivateKeySignRequest, CertificateId=pending, **args) == refused
    assert fails(old, UpdateCertificateStatusRequest, CertificateId=pending,
                 Status="INACTIVE") == refused  # fmt: skip

    cert_id, _leaf = active(old, ca, "EC_P256")
    signature = sign(old, cert_id, "ECDSA_SHA_256", message)
    call(old, UpdateCertificateStatusRequest, CertificateId=cert_id, Status="INACTIVE")
    assert fails(old, CertificatePrivateKeySignRequest, CertificateId=cert_id, **args) == refused
    assert fails(
        old, CertificatePublicKeyVerifyRequest, CertificateId=cert_id,
        SignatureValue=b64(signature), **args,
    ) == refused  # fmt: skip
    call(old, UpdateCertificateStatusRequest, CertificateId=cert_id, Status="ACTIVE")
    assert verify(old, cert_id, "ECDSA_SHA_256", message, signature)

    call(old, UpdateCertificateStatusRequest, CertificateId=cert_id, Status="REVOKED")
    # Revoked: verify only (Alibaba's rule), and it stays revoked.
    assert verify(old, cert_id, "ECDSA_SHA_256", message, signature)
    assert fails(old, CertificatePrivateKeySignRequest, CertificateId=cert_id, **args) == refused
    assert fails(old, UpdateCertificateStatusRequest, CertificateId=cert_id,
                 Status="ACTIVE") == refused  # fmt: skip
    assert fails(old, UpdateCertificateStatusRequest, CertificateId=cert_id,
                 Status="ENABLED") == ("InvalidParameter", 400)  # fmt: skip


def test_parameter_errors(old: OldSdk, ca: Ca) -> None:
    bad = ("InvalidParameter", 400)
    assert fails(old, CreateCertificateRequest, Subject=SUBJECT, KeySpec="RSA_3072") == bad
    assert fails(old, CreateCertificateRequest, Subject="CN=x,C=CN", KeySpec="EC_P256") == bad
    assert fails(old, CreateCertificateRequest, Subject="not a dn", KeySpec="EC_P256") == bad
    assert fails(old, CreateCertificateRequest, Subject=SUBJECT, KeySpec="EC_P256",
                 SubjectAlternativeNames=json.dumps([f"h{i}.example.com" for i in range(11)]),
                 ) == bad  # fmt: skip
    assert fails(old, CreateCertificateRequest, KeySpec="EC_P256") == ("MissingParameter", 400)

    cert_id, _leaf = active(old, ca, "EC_P256")
    sign_args = {"CertificateId": cert_id, "Message": b64(b"x" * 31)}
    assert fails(old, CertificatePrivateKeySignRequest, Algorithm="ECDSA_SHA_256",
                 MessageType="DIGEST", **sign_args) == bad  # fmt: skip
    assert fails(old, CertificatePrivateKeySignRequest, Algorithm="ECDSA_SHA_256",
                 MessageType="HASH", **sign_args) == bad  # fmt: skip
    assert fails(old, CertificatePrivateKeySignRequest, Algorithm="NOPE",
                 MessageType="RAW", **sign_args) == bad  # fmt: skip
    assert fails(
        old,
        CertificatePrivateKeySignRequest,
        Algorithm="RSA_PSS_SHA_256",
        MessageType="RAW",
        **sign_args,
    ) == ("Rejected.UnsupportedOperation", 400)
    assert fails(
        old, CertificatePublicKeyEncryptRequest, CertificateId=cert_id,
        Algorithm="RSAES_OAEP_SHA_256", Plaintext=b64(b"x"),
    ) == ("Rejected.UnsupportedOperation", 400)  # fmt: skip


def test_unknown_and_deleted_certificates_are_not_found(old: OldSdk, ca: Ca) -> None:
    missing = ("Certificate.NotFound", 404)
    unknown = "00000000-0000-0000-0000-000000000000"
    for request_class in (GetCertificateRequest, DescribeCertificateRequest,
                          DeleteCertificateRequest):  # fmt: skip
        assert fails(old, request_class, CertificateId=unknown) == missing
    cert_id, _leaf = active(old, ca, "RSA_2048")
    call(old, DeleteCertificateRequest, CertificateId=cert_id)
    assert fails(old, GetCertificateRequest, CertificateId=cert_id) == missing
    assert fails(
        old, CertificatePrivateKeySignRequest, CertificateId=cert_id,
        Algorithm="RSA_PKCS1_SHA_256", MessageType="RAW", Message=b64(b"x"),
    ) == missing  # fmt: skip


def test_certificates_take_tags(old: OldSdk) -> None:
    cert_id, _csr = create(old, "EC_P256")
    tags = json.dumps([{"TagKey": "team", "TagValue": "pki"}])
    call(old, TagResourceRequest, CertificateId=cert_id, Tags=tags)
    described = call(old, DescribeCertificateRequest, CertificateId=cert_id)
    assert described["Tags"] == {"team": "pki"}


@pytest.mark.parametrize("spec", ["RSA_2048", "EC_P256", "EC_SM2"])
def test_non_exportable_keys_stay_in_software_without_an_hsm(
    old: OldSdk, ca: Ca, spec: str
) -> None:
    # A server without a token keeps every certificate key keyring-wrapped; the flag is
    # recorded (and Mamori exports no certificate key either way).
    cert_id, csr = create(old, spec, ExportablePrivateKey=False)
    described = call(old, DescribeCertificateRequest, CertificateId=cert_id)
    assert (described["ProtectionLevel"], described["ExportablePrivateKey"]) == (
        "SOFTWARE",
        False,
    )
    leaf = ca.issue(csr, spec)
    call(old, UploadCertificateRequest, CertificateId=cert_id, Certificate=leaf,
         CertificateChain=ca.chain)  # fmt: skip
    algorithm = dict(SIGNING)[spec]
    message = b"software, as asked of a server without an HSM"
    assert verify(old, cert_id, algorithm, message, sign(old, cert_id, algorithm, message))
