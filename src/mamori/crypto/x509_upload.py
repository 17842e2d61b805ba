"""UploadCertificate's checks: the certificate holds the request's public key, and the chain
links each certificate to the next one up (issuer name and signature), and what
DescribeCertificate reports from the certificate.

Certificates and chains are PEM. RSA and ECDSA signatures are checked by ``cryptography``
(``verify_directly_issued_by``); SM2-with-SM3 signatures, which ``cryptography`` cannot check,
by ``crypto/sm2.py`` over the TBSCertificate with the default signer id. The public keys are
compared as SubjectPublicKeyInfo DER, read with ``asn1crypto`` because ``cryptography`` cannot
load an SM2 key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from mamori.crypto import sm2

MAX_CHAIN: Final = 10
_PEM: Final = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)
_SM2_SM3_OID: Final = "1.2.156.10197.1.501"
# What DescribeCertificate calls each signature algorithm (Alibaba's three, then the rest by
# their dotted names).
_ALGORITHM_NAMES: Final = {
    "1.2.840.113549.1.1.11": "RSA2048-SHA256",
    "1.2.840.10045.4.3.2": "ECDSA-SHA256",
    _SM2_SM3_OID: "SM2-SM3",
}


class CertificateInputError(ValueError):
    """An uploaded certificate or chain Mamori refuses; ``field`` names the parameter."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What DescribeCertificate reports, read once at upload."""

    serial: str
    subject: str
    issuer: str
    not_before: int
    not_after: int
    names: tuple[str, ...]
    subject_key_identifier: str
    signature_algorithm: str


def _load_all(field: str, text: str) -> list[tuple[x509.Certificate, bytes]]:
    blocks = _PEM.findall(text)
    # Only PEM blocks and whitespace: anything else is a mistake, not something to skip.
    if not blocks or _PEM.sub("", text).strip():
        raise CertificateInputError(field, "It must be PEM certificates only.")
    loaded = []
    for block in blocks:
        try:
            cert = x509.load_pem_x509_certificate(block.encode("ascii"))
            der = cert.public_bytes(Encoding.DER)
        except ValueError as exc:
            raise CertificateInputError(field, "It holds a malformed certificate.") from exc
        loaded.append((cert, der))
    return loaded


def spki(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a DER certificate."""
    from asn1crypto import x509 as asn1_x509  # here: not loaded with every server start

    return bytes(
        asn1_x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"].dump()
    )


def _issued_by(
    child: x509.Certificate, child_der: bytes, issuer_der: bytes, issuer: x509.Certificate
) -> bool:
    if child.issuer != issuer.subject:
        return False
    if child.signature_algorithm_oid.dotted_string == _SM2_SM3_OID:
        try:
            point = sm2.point_from_spki(spki(issuer_der))
        except sm2.Sm2Error:
            return False
        return sm2.verify_message(point, child.tbs_certificate_bytes, child.signature)
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def check_upload(certificate: str, chain: str, public_spki: bytes, now: int) -> bytes:
    """The certificate's DER, once it holds ``public_spki``, is within its validity, and each
    certificate of ``chain`` (leaf's issuer first) issued the one before it."""
    found = _load_all("Certificate", certificate)
    if len(found) != 1:
        raise CertificateInputError("Certificate", "It must be exactly one certificate.")
    leaf, leaf_der = found[0]
    if spki(leaf_der) != public_spki:
        raise CertificateInputError(
            "Certificate", "Its public key is not the key of this certificate's request."
        )
    if leaf.not_valid_after_utc.timestamp() < now:
        raise CertificateInputError("Certificate", "It has expired.")
    links = _load_all("CertificateChain", chain)
    if len(links) > MAX_CHAIN:
        raise CertificateInputError("CertificateChain", f"It holds at most {MAX_CHAIN}.")
    child, child_der = leaf, leaf_der
    for issuer, issuer_der in links:
        if not _issued_by(child, child_der, issuer_der, issuer):
            raise CertificateInputError(
                "CertificateChain", "A certificate in it did not issue the one before it."
            )
        child, child_der = issuer, issuer_der
    return leaf_der


def facts(der: bytes) -> CertificateFacts:
    """DescribeCertificate's fields of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    names: tuple[str, ...] = ()
    ski = ""
    for ext in cert.extensions:
        if isinstance(ext.value, x509.SubjectAlternativeName):
            names = tuple(str(v.value) for v in ext.value)
        elif isinstance(ext.value, x509.SubjectKeyIdentifier):
            ski = ext.value.digest.hex().upper()
    oid = cert.signature_algorithm_oid.dotted_string
    return CertificateFacts(
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=_epoch(cert.not_valid_before_utc),
        not_after=_epoch(cert.not_valid_after_utc),
        names=names,
        subject_key_identifier=ski,
        signature_algorithm=_ALGORITHM_NAMES.get(oid, oid),
    )


def _epoch(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


def pem(der: bytes) -> str:
    """A DER certificate in PEM."""
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
