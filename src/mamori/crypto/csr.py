"""Certificate signing requests for CreateCertificate: the subject DN and DNS names checked, and
a PKCS#10 request signed by the certificate's new private key, in PEM.

RSA and ECDSA requests with a key in memory are built and signed by ``cryptography`` (SHA-256;
PKCS#1 v1.5 for RSA, as CAs expect). ``cryptography`` signs only with its own key objects, so
where it cannot sign the same PKCS#10 structure is assembled with ``asn1crypto`` and its
to-be-signed bytes handed to the signer: an SM2 key (``crypto/sm2.py``, GmSSL; SM2-with-SM3 with
the default signer id, the form GM/T 0015 and OpenSSL's ``-sm2-id`` default use), or an RSA or
EC key in a PKCS#11 token (``build_for_token``; the same algorithms as ``cryptography``'s).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mamori.crypto import sm2
from mamori.crypto.material import KeyMaterial

MAX_SUBJECT_NAMES: Final = 10
# CN, C, O and OU are required (Alibaba's CreateCertificate); ST, L and E are optional.
_REQUIRED: Final = {
    "CN": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
}
_ALLOWED: Final = {
    *_REQUIRED.values(),
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.EMAIL_ADDRESS,
}
_DNS: Final = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
# SM2-with-SM3 (GM/T 0006); the algorithm identifier carries no parameters.
_SM2_SM3_OID: Final = "1.2.156.10197.1.501"
# What a token key signs its request with, by spec family: the KMS algorithm, and the
# signatureAlgorithm ``cryptography`` writes for it (sha256WithRSAEncryption with NULL
# parameters, RFC 4055 §5, which asn1crypto adds itself; ecdsa-with-SHA256 with none, RFC 5758
# §3.2).
TOKEN_SIGNATURES: Final[dict[str, tuple[str, dict[str, object]]]] = {
    "rsa": ("RSA_PKCS1_SHA_256", {"algorithm": "sha256_rsa"}),
    "ec": ("ECDSA_SHA_256", {"algorithm": "sha256_ecdsa"}),
}

# Signs a digest with the named KMS algorithm (``AsymmetricKey.sign``), DER for ECDSA.
DigestSigner = Callable[[str, bytes], bytes]


class CsrInputError(ValueError):
    """A subject or a name the request cannot carry; ``field`` names the parameter."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def parse_subject(text: str) -> x509.Name:
    """An RFC 2253 DN with CN, C, O and OU (ST, L and E allowed), each value non-empty."""
    try:
        name = x509.Name.from_rfc4514_string(text, {"E": NameOID.EMAIL_ADDRESS})
    except ValueError as exc:
        raise CsrInputError("Subject", "It is not an RFC 2253 distinguished name.") from exc
    present = {attr.oid for attr in name}
    missing = [short for short, oid in _REQUIRED.items() if oid not in present]
    if missing:
        raise CsrInputError("Subject", f"It lacks {', '.join(missing)}.")
    for attr in name:
        if attr.oid not in _ALLOWED:
            raise CsrInputError("Subject", "Only CN, C, O, OU, ST, L and E are accepted.")
        value = attr.value if isinstance(attr.value, str) else ""
        if not value.strip() or len(value) > 64:
            raise CsrInputError("Subject", "Each value is 1 to 64 characters.")
        if attr.oid == NameOID.COUNTRY_NAME and not re.fullmatch("[A-Z]{2}", value):
            raise CsrInputError("Subject", "C is an ISO 3166-1 two-letter code.")
    return name


def check_names(names: list[str]) -> list[str]:
    """SubjectAlternativeNames: at most ten DNS names (an IP address is taken as one)."""
    if len(names) > MAX_SUBJECT_NAMES:
        raise CsrInputError("SubjectAlternativeNames", "It holds at most 10 names.")
    for name in names:
        if len(name) > 253 or not (_DNS.match(name) or _is_ip(name)):
            raise CsrInputError("SubjectAlternativeNames", f"{name!r} is not a domain name.")
    return names


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    return [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names
    ]


def build(spec_family: str, material: KeyMaterial, subject: x509.Name, names: list[str]) -> str:
    """The PEM CSR for ``subject`` and ``names``, signed by the private key in ``material``
    (PKCS#8 DER for RSA/EC, the ``crypto/sm2.py`` layout for SM2)."""
    if spec_family == "sm2":
        return _build_sm2(material, subject, names)
    key = serialization.load_der_private_key(material.reveal(), None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("certificates take RSA, EC or SM2 keys")
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_general_names(names)), critical=False
        )
    request = builder.sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def build_for_token(
    spec_family: str, spki: bytes, sign: DigestSigner, subject: x509.Name, names: list[str]
) -> str:
    """The PEM CSR for a key ``cryptography`` cannot hold (one in a PKCS#11 token): ``spki``
    is its public key, ``sign`` signs the SHA-256 of the request's to-be-signed bytes."""
    algorithm, identifier = TOKEN_SIGNATURES[spec_family]
    return _assemble(
        spki,
        identifier,
        lambda tbs: sign(algorithm, hashlib.sha256(tbs).digest()),
        subject,
        names,
    )


def _build_sm2(material: KeyMaterial, subject: x509.Name, names: list[str]) -> str:
    private = sm2.Sm2PrivateKey(material)
    return _assemble(
        sm2.spki_der(private.point),
        {"algorithm": _SM2_SM3_OID},
        private.sign_message,
        subject,
        names,
    )


def _assemble(
    spki: bytes,
    algorithm: dict[str, object],
    sign: Callable[[bytes], bytes],
    subject: x509.Name,
    names: list[str],
) -> str:
    """A PKCS#10 request put together with ``asn1crypto``; ``sign`` signs its TBS bytes."""
    # asn1crypto loads here, for SM2 and token CSRs only, not with every server start.
    from asn1crypto import csr as asn1_csr
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509

    attributes = []
    if names:
        san = x509.SubjectAlternativeName(_general_names(names))
        extension = asn1_x509.Extension(
            {
                "extn_id": "subject_alt_name",
                "critical": False,
                "extn_value": asn1_x509.GeneralNames.load(san.public_bytes()),
            }
        )
        attributes.append(
            {"type": "extension_request", "values": [asn1_x509.Extensions([extension])]}
        )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            # The DN's DER as cryptography encodes it, so both paths name a subject alike.
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": asn1_csr.CRIAttributes(attributes),
        }
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": algorithm,
            "signature": sign(info.dump()),
        }
    )
    armored: bytes = asn1_pem.armor("CERTIFICATE REQUEST", request.dump())
    return armored.decode("ascii")
