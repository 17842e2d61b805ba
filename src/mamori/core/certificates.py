"""Certificates: a key pair made by CreateCertificate (with its CSR), the certificate and chain
UploadCertificate adds, their status, and the four Certificate* operations.

Status: ``PENDING`` until a certificate is uploaded, then ``ACTIVE``; UpdateCertificateStatus
moves it between ``ACTIVE`` and ``INACTIVE``, or to ``REVOKED`` for good. Only an ``ACTIVE``
certificate signs, encrypts or decrypts; a ``REVOKED`` one still verifies (Alibaba's rule).

The row is read on every operation, so a status change on one node holds on every node at once;
only the private key is cached (it never changes for a certificate id).

Where the private key lives: keyring-wrapped in the row (``SOFTWARE``), or, when the server has
a PKCS#11 token and the request says ``ExportablePrivateKey=false``, generated in the token as a
non-extractable object (``HSM``), the row keeping only its reference (``core/hsm_keys.py``).
Alibaba's CreateCertificate has no ProtectionLevel; a non-exportable key is its one way to ask.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, insert, select, update

from mamori.core import tags as tag_store
from mamori.core.asymmetric_ops import check_algorithm
from mamori.core.cache import LruCache
from mamori.core.errors import (
    CiphertextInvalid,
    DomainError,
    InvalidInput,
    Unsupported,
    UnsupportedProtectionLevel,
)
from mamori.core.hsm_keys import HsmVersions, certificate_label
from mamori.core.refs import Scope
from mamori.crypto import asymmetric, csr, x509_upload
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.asymmetric import AsymmetricKey, PrivateKey, PublicKey, max_plaintext
from mamori.crypto.specs import SPECS, KeyUsage
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

SPECS_OFFERED: Final = ("RSA_2048", "EC_P256", "EC_SM2")
STATUSES: Final = ("ACTIVE", "INACTIVE", "REVOKED")
PENDING: Final = "PENDING"
MAX_RAW_MESSAGE: Final = 4096
DIGEST_BYTES: Final = 32
# A certificate's key signs, and decrypts where its spec can (RSA).
USAGES: Final = (KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT)

Clock = Callable[[], float]


class CertificateNotFound(DomainError):
    """No such certificate in this account."""

    code = "Certificate.NotFound"


@dataclass(frozen=True, slots=True)
class Certificate:
    """One certificate's row (times in epoch seconds)."""

    id: str
    account_id: str
    spec: str
    protection_level: str
    exportable: bool
    status: str
    subject: str
    names: tuple[str, ...]
    csr: str
    public_key: bytes
    certificate: bytes | None
    chain: str | None
    created_at: int
    updated_at: int

    @classmethod
    def from_row(cls, row: Any) -> Certificate:
        """Build from a ``certificates`` row."""
        m = row._mapping
        values = {name: m[name] for name in cls.__dataclass_fields__ if name != "names"}
        return cls(names=tuple(json.loads(m["names"])), **values)


def _binding(cert_id: str) -> bytes:
    return f"certificate/{cert_id}".encode()


class CertificateService:
    """Certificates of every account: store, keyring, clock and a private-key cache."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        clock: Clock,
        cache_size: int,
        hsm: HsmVersions | None = None,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._hsm = hsm or HsmVersions(None)
        self._private: LruCache[str, AsymmetricKey] = LruCache(cache_size)

    def _now(self) -> int:
        return int(self._clock())

    # -- lifecycle ---------------------------------------------------------------------------

    def create(
        self, scope: Scope, spec_name: str, subject: str, names: list[str], exportable: bool
    ) -> Certificate:
        """CreateCertificate: a new key pair and its CSR; the certificate is PENDING."""
        if spec_name not in SPECS_OFFERED:
            raise InvalidInput("KeySpec", f"It must be one of {', '.join(SPECS_OFFERED)}.")
        try:
            name = csr.parse_subject(subject)
            checked = csr.check_names(names)
        except csr.CsrInputError as exc:
            raise InvalidInput(exc.field, exc.detail) from exc
        spec = SPECS[spec_name]
        in_token = not exportable and self._hsm.configured
        if in_token:
            # Refused here, as CreateKey refuses an HSM spec the token lacks: a caller who
            # asked for a key that cannot leave gets one in the token or none (never one in
            # software instead).
            signing = csr.TOKEN_SIGNATURES.get(spec.family.value)
            if signing is None or signing[0] not in self._hsm.algorithms(spec, *USAGES):
                raise UnsupportedProtectionLevel
        cert_id = str(uuid.uuid4())
        now = self._now()
        row: dict[str, Any] = {
            "id": cert_id,
            "account_id": scope.account_id,
            "spec": spec_name,
            "protection_level": "HSM" if in_token else "SOFTWARE",
            "exportable": exportable,
            "status": PENDING,
            "subject": subject,
            "names": json.dumps(checked),
            "certificate": None,
            "chain": None,
            "created_at": now,
            "updated_at": now,
        }
        if in_token:
            label = certificate_label(cert_id)
            reference = self._hsm.generate_pair(label, spec, *USAGES)
            try:
                key = self._hsm.open_pair(reference, label, spec, *USAGES)
                public = key.public.der()
                request = csr.build_for_token(spec.family.value, public, key.sign, name, checked)
                self._insert(row, public, request, reference)
            except BaseException:
                self._hsm.discard_label(label)
                raise
        else:
            # Mamori never exports a certificate's private key, whatever ExportablePrivateKey
            # says (the API has no export action); it is keyring-wrapped like key material.
            material = asymmetric.generate(spec)
            public = PrivateKey(spec, material).public.der()
            request = csr.build(spec.family.value, material, name, checked)
            wrapped = self._keyring.wrap(material.reveal(), _binding(cert_id))
            self._insert(row, public, request, wrapped)
        return Certificate(**{**row, "names": tuple(checked), "csr": request, "public_key": public})

    def _insert(self, row: dict[str, Any], public: bytes, request: str, private: bytes) -> None:
        values = {**row, "public_key": public, "csr": request, "wrapped_private_key": private}
        with self._db.begin() as conn:
            conn.execute(insert(t.certificates).values(**values))

    def get(self, scope: Scope, cert_id: str) -> Certificate:
        """The certificate ``cert_id`` names in the caller's account."""
        with self._db.read() as conn:
            row = conn.execute(
                select(*[c for c in t.certificates.c if c.name != "wrapped_private_key"]).where(
                    t.certificates.c.id == cert_id,
                    t.certificates.c.account_id == scope.account_id,
                )
            ).first()
        if row is None:
            raise CertificateNotFound
        return Certificate.from_row(row)

    def upload(self, scope: Scope, cert_id: str, certificate: str, chain: str) -> None:
        """UploadCertificate: the certificate must hold the request's public key and the chain
        must link; a PENDING certificate becomes ACTIVE. A REVOKED one takes no certificate."""
        found = self.get(scope, cert_id)
        if found.status == "REVOKED":
            raise Unsupported("the certificate is REVOKED")
        try:
            der = x509_upload.check_upload(certificate, chain, found.public_key, self._now())
        except x509_upload.CertificateInputError as exc:
            raise InvalidInput(exc.field, exc.detail) from exc
        status = "ACTIVE" if found.status == PENDING else found.status
        self._write(found, certificate=der, chain=chain, status=status)

    def update_status(self, scope: Scope, cert_id: str, status: str) -> None:
        """UpdateCertificateStatus: ACTIVE ⇄ INACTIVE, or REVOKED for good."""
        if status not in STATUSES:
            raise InvalidInput("Status", f"It must be one of {', '.join(STATUSES)}.")
        found = self.get(scope, cert_id)
        if found.status == PENDING:
            raise Unsupported("the certificate has not been uploaded yet")
        if found.status == "REVOKED" and status != "REVOKED":
            raise Unsupported("a REVOKED certificate stays REVOKED")
        self._write(found, status=status)

    def _write(self, found: Certificate, **values: Any) -> None:
        values["updated_at"] = self._now()
        with self._db.begin() as conn:
            conn.execute(
                update(t.certificates).where(t.certificates.c.id == found.id).values(**values)
            )

    def delete(self, scope: Scope, cert_id: str) -> None:
        """DeleteCertificate: the key pair and certificate are gone at once."""
        found = self.get(scope, cert_id)
        with self._db.begin() as conn:
            conn.execute(delete(t.certificates).where(t.certificates.c.id == found.id))
            tag_store.drop_resource(conn, "certificate", found.id)
        self._private.discard(found.id)
        if found.protection_level == "HSM":
            self._hsm.discard_label(certificate_label(found.id))
        self._db.erase()

    # -- operations --------------------------------------------------------------------------

    def _usable(self, scope: Scope, cert_id: str, allowed: tuple[str, ...]) -> Certificate:
        found = self.get(scope, cert_id)
        if found.status not in allowed:
            state = "not uploaded yet" if found.status == PENDING else found.status
            raise Unsupported(f"the certificate is {state}")
        return found

    def _private_key(self, found: Certificate, algorithm: str) -> AsymmetricKey:
        """The private key, for an algorithm its spec allows (checked by the caller) and that
        its home runs: a token may lack some (SoftHSM2 has no OAEP with SHA-256)."""
        spec = SPECS[found.spec]

        def load(cert_id: str) -> AsymmetricKey | None:
            with self._db.read() as conn:
                stored = conn.execute(
                    select(t.certificates.c.wrapped_private_key).where(
                        t.certificates.c.id == cert_id
                    )
                ).scalar_one_or_none()
            if stored is None:
                return None
            if found.protection_level == "HSM":
                return self._hsm.open_pair(stored, certificate_label(cert_id), spec, *USAGES)
            return PrivateKey(spec, self._keyring.unwrap(stored, _binding(cert_id)))

        key = self._private.get_or_load(found.id, load)
        if key is None:
            raise CertificateNotFound
        if not key.offers(algorithm):
            raise Unsupported(f"the HSM holding this certificate's key cannot run {algorithm}")
        return key

    def sign(
        self, scope: Scope, cert_id: str, algorithm: str, message_type: str, message: bytes
    ) -> bytes:
        """CertificatePrivateKeySign over a message (RAW) or its digest (DIGEST)."""
        found = self._usable(scope, cert_id, ("ACTIVE",))
        check_algorithm(SPECS[found.spec], KeyUsage.SIGN_VERIFY, algorithm)
        _check_message(message_type, message)
        key = self._private_key(found, algorithm)
        if message_type == "DIGEST":
            return key.sign(algorithm, message)
        if isinstance(key, PrivateKey):
            return key.sign_message(algorithm, message)
        # Token keys are RSA or EC, whose certificate algorithms all hash with SHA-256.
        return key.sign(algorithm, hashlib.sha256(message).digest())

    def verify(
        self,
        scope: Scope,
        cert_id: str,
        algorithm: str,
        message_type: str,
        message: bytes,
        signature: bytes,
    ) -> bool:
        """CertificatePublicKeyVerify, with the certificate's public key."""
        found = self._usable(scope, cert_id, ("ACTIVE", "REVOKED"))
        check_algorithm(SPECS[found.spec], KeyUsage.SIGN_VERIFY, algorithm)
        _check_message(message_type, message)
        public = PublicKey(SPECS[found.spec], found.public_key)
        if message_type == "RAW":
            return public.verify_message(algorithm, message, signature)
        return public.verify(algorithm, message, signature)

    def encrypt(self, scope: Scope, cert_id: str, algorithm: str, plaintext: bytes) -> bytes:
        """CertificatePublicKeyEncrypt, with the certificate's public key."""
        found = self._usable(scope, cert_id, ("ACTIVE",))
        spec = SPECS[found.spec]
        check_algorithm(spec, KeyUsage.ENCRYPT_DECRYPT, algorithm)
        limit = max_plaintext(spec, algorithm)
        if not 1 <= len(plaintext) <= limit:
            raise InvalidInput("Plaintext", f"{algorithm} takes 1 to {limit} bytes here.")
        return PublicKey(spec, found.public_key).encrypt(algorithm, plaintext)

    def decrypt(self, scope: Scope, cert_id: str, algorithm: str, ciphertext: bytes) -> bytes:
        """CertificatePrivateKeyDecrypt; any failure is the one opaque CiphertextBlob error."""
        found = self._usable(scope, cert_id, ("ACTIVE",))
        check_algorithm(SPECS[found.spec], KeyUsage.ENCRYPT_DECRYPT, algorithm)
        try:
            return self._private_key(found, algorithm).decrypt(algorithm, ciphertext)
        except DecryptionFailed as exc:
            raise CiphertextInvalid from exc


def _check_message(message_type: str, message: bytes) -> None:
    if message_type == "DIGEST" and len(message) != DIGEST_BYTES:
        raise InvalidInput("Message", f"A DIGEST is {DIGEST_BYTES} bytes.")
    if message_type == "RAW" and len(message) > MAX_RAW_MESSAGE:
        raise InvalidInput("Message", f"A RAW message is at most {MAX_RAW_MESSAGE} bytes.")
