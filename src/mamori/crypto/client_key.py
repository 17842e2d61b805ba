"""Client keys of application access points: the RSA key, its certificate, and the PKCS#12 inside
the ClientKeyContent document that the official instance-API SDKs load.

ClientKeyContent, as the SDKs read it (``clientKey_KAAP.<uuid>.json``; the password is kept
apart)::

    {"KeyId": "KAAP.<uuid>", "PrivateKeyData": "<base64 of the PKCS#12 below>"}

PKCS#12 layout, chosen for the strictest reader (Go's ``x/crypto/pkcs12``, which knows only the
legacy PBEs and takes the first bag as the certificate and the second as the key)::

    AuthenticatedSafe
      [0] EncryptedData (pbeWithSHA1And3-KeyTripleDES-CBC)  -> one CertBag: the certificate
      [1] Data                                              -> one PKCS8ShroudedKeyBag
                                                               (pbeWithSHA1And3-KeyTripleDES-CBC)
    MacData: HMAC-SHA1; friendlyName = the key id on both bags

Legacy PBE (3DES, a SHA-1 KDF and MAC) is chosen for compatibility, not strength: the private
key in the document is only as safe as the password, which is why the document is handed over
once and never stored. The certificate is self-signed with subject CN = the key id and the
validity the caller gives.
The server keeps only ``ClientKeyPublic`` (the certificate: public key and validity); the
private key exists only inside the document handed to the user once.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

KEY_ID_PREFIX: Final = "KAAP."
KEY_ALGORITHM: Final = "RSA_2048"
_RSA_BITS: Final = 2048
# OpenSSL's default PKCS#12 iteration count (PKCS12_DEFAULT_ITER), what every reader expects.
_KDF_ROUNDS: Final = 2048
_DER: Final = serialization.Encoding.DER


class MalformedClientKey(ValueError):
    """The document, password or PKCS#12 is not a client key this module can read."""


def new_key_id() -> str:
    """A fresh client key id, ``KAAP.`` + a random UUID, as Alibaba issues them."""
    return f"{KEY_ID_PREFIX}{uuid.uuid4()}"


@dataclass(frozen=True, slots=True)
class ClientKeyPublic:
    """What the server keeps of a client key: its id and certificate (DER)."""

    key_id: str
    certificate_der: bytes = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_der_x509_certificate(self.certificate_der)

    def public_key(self) -> rsa.RSAPublicKey:
        """The RSA public key that verifies this client key's request signatures."""
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise MalformedClientKey("the certificate does not hold an RSA key")
        return key

    @property
    def not_before(self) -> datetime:
        """Start of validity (aware UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        """End of validity (aware UTC)."""
        return self.certificate.not_valid_after_utc

    def valid_at(self, now: datetime) -> bool:
        """Whether aware ``now`` lies within the certificate's validity."""
        return self.not_before <= now <= self.not_after


@dataclass(frozen=True, slots=True)
class IssuedClientKey:
    """A new client key: the public half to store, and the document to hand over once."""

    public: ClientKeyPublic
    # The ClientKeyContent JSON: it holds the password-protected private key.
    content: str = field(repr=False)

    def __reduce__(self) -> NoReturn:
        raise TypeError("an issued client key holds a private key and is never pickled")


def _check_password(password: str) -> bytes:
    # PKCS#12 readers disagree on how a non-ASCII password becomes a BMPString; printable
    # ASCII is read the same way by OpenSSL, pyOpenSSL, Go and Java.
    if not password or not all(" " <= c <= "~" for c in password):
        raise ValueError("the password must be non-empty printable ASCII")
    return password.encode("ascii")


def _certificate(
    key_id: str, key: rsa.RSAPrivateKey, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ValueError("not_before and not_after must be aware datetimes")
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key_id)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        # RFC 5280: positive, at most 20 octets.
        .serial_number(secrets.randbits(159) | 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _legacy_pkcs12(
    key_id: str, key: rsa.RSAPrivateKey, cert: x509.Certificate, password: bytes
) -> bytes:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - Go's reader verifies only a SHA-1 MAC
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        name=key_id.encode("ascii"),
        key=key,
        cert=cert,
        cas=None,
        encryption_algorithm=encryption,
    )


def client_key_content(key_id: str, pkcs12_der: bytes) -> str:
    """The ClientKeyContent JSON document for a PKCS#12."""
    return json.dumps(
        {"KeyId": key_id, "PrivateKeyData": base64.b64encode(pkcs12_der).decode("ascii")}
    )


def issue_client_key(
    key_id: str, password: str, not_before: datetime, not_after: datetime
) -> IssuedClientKey:
    """Generate an RSA-2048 client key valid from ``not_before`` to ``not_after``, wrapped in
    a PKCS#12 under ``password``; return the public half and the ClientKeyContent."""
    if not key_id.startswith(KEY_ID_PREFIX) or not key_id.isascii():
        raise ValueError(f"a client key id starts with {KEY_ID_PREFIX}")
    secret = _check_password(password)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    cert = _certificate(key_id, key, not_before, not_after)
    public = ClientKeyPublic(key_id=key_id, certificate_der=cert.public_bytes(_DER))
    return IssuedClientKey(
        public=public, content=client_key_content(key_id, _legacy_pkcs12(key_id, key, cert, secret))
    )


@dataclass(frozen=True, slots=True)
class LoadedClientKey:
    """A ClientKeyContent opened with its password (for Mamori's own client and tests)."""

    key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate

    def __reduce__(self) -> NoReturn:
        raise TypeError("a loaded client key holds a private key and is never pickled")


def load_client_key_content(content: str, password: str) -> LoadedClientKey:
    """Open a ClientKeyContent document the way the SDKs do, or raise ``MalformedClientKey``."""
    try:
        document: Any = json.loads(content)
        key_id = document["KeyId"]
        data = base64.b64decode(document["PrivateKeyData"], validate=True)
        if not isinstance(key_id, str):
            raise TypeError("KeyId")
        key, cert, _ = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedClientKey("not a ClientKeyContent document for this password") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
        raise MalformedClientKey("the PKCS#12 holds no RSA key and certificate")
    return LoadedClientKey(key_id=key_id, private_key=key, certificate=cert)
