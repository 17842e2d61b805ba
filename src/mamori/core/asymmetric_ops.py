"""Asymmetric and HMAC operations: AsymmetricSign/Verify/Encrypt/Decrypt, GetPublicKey,
GenerateMac/VerifyMac, and wrapping data keys under a caller's public key for export.

Asymmetric operations name a key version explicitly (KeyId and KeyVersionId, spec §7.4): a
signature or ciphertext carries no version, so the caller says which one. Every check (state,
usage, algorithm, input length) runs before the private key is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mamori.core.crypto_ops import require_enabled
from mamori.core.errors import (
    CiphertextInvalid,
    InvalidInput,
    KeyNotFound,
    KeyVersionNotFound,
    Unsupported,
)
from mamori.core.keys import KeyService, UsableVersion
from mamori.core.model import KeyRecord
from mamori.core.refs import Scope
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.asymmetric import PublicKey, UnsupportedKey, max_plaintext
from mamori.crypto.specs import DIGEST_BYTES, EXPORT_WRAPPING, SPECS, KeySpec, KeyUsage

_KNOWN: Final[dict[KeyUsage, frozenset[str]]] = {
    usage: frozenset(a for spec in SPECS.values() for a in spec.algorithms(usage))
    for usage in KeyUsage
}
_VERB: Final[dict[KeyUsage, str]] = {
    KeyUsage.ENCRYPT_DECRYPT: "encrypt or decrypt",
    KeyUsage.SIGN_VERIFY: "sign or verify",
    KeyUsage.GENERATE_VERIFY_MAC: "generate or verify MACs",
}


@dataclass(frozen=True, slots=True)
class VersionResult:
    """Bytes an operation produced, and the key version that produced them."""

    key_id: str
    version_id: str
    value: bytes


def check_algorithm(spec: KeySpec, usage: KeyUsage, algorithm: str) -> None:
    """An algorithm no spec knows is an invalid parameter; one this key's spec does not offer
    for ``usage`` is an unsupported operation, with the reason."""
    if algorithm not in _KNOWN[usage]:
        raise InvalidInput("Algorithm", f"It must be one of {', '.join(sorted(_KNOWN[usage]))}.")
    if algorithm not in spec.algorithms(usage):
        offered = ", ".join(spec.algorithms(usage)) or "none"
        raise Unsupported(f"{spec.name} keys do not support {algorithm} (they offer {offered})")


def _require_usage(record: KeyRecord, usage: KeyUsage) -> KeySpec:
    spec = SPECS[record.spec]
    if record.usage != usage.value:
        raise Unsupported(
            f"the key's usage is {record.usage}; it cannot {_VERB[usage]} ({usage.value} needed)"
        )
    return spec


def wrapping_key(spec_name: str, algorithm: str, der: bytes) -> tuple[PublicKey, str]:
    """The caller's public key for GenerateAndExportDataKey / ExportDataKey."""
    algorithms = EXPORT_WRAPPING.get(spec_name)
    if algorithms is None:
        raise InvalidInput("WrappingKeySpec", f"It must be one of {', '.join(EXPORT_WRAPPING)}.")
    if algorithm not in algorithms:
        raise InvalidInput(
            "WrappingAlgorithm", f"{spec_name} takes one of {', '.join(algorithms)}."
        )
    try:
        return PublicKey(SPECS[spec_name], der), algorithm
    except UnsupportedKey as exc:
        raise InvalidInput("PublicKeyBlob", f"It is not a {spec_name} public key.") from exc


def export(public: PublicKey, algorithm: str, data_key: bytes) -> bytes:
    """A data key encrypted under the caller's public key."""
    if len(data_key) > max_plaintext(public.spec, algorithm):
        raise InvalidInput("NumberOfBytes", f"{algorithm} cannot wrap {len(data_key)} bytes.")
    return public.encrypt(algorithm, data_key)


class AsymmetricService:
    """Asymmetric and HMAC operations over the key service's caches."""

    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def key_version(
        self, scope: Scope, key: str, version_id: str, usage: KeyUsage | None
    ) -> tuple[KeySpec, UsableVersion]:
        """Resolve an Enabled asymmetric key and one of its versions, checking ``usage``;
        DryRun stops after this."""
        record = self._keys.resolve(scope, key)
        require_enabled(record)
        spec = SPECS[record.spec]
        if not spec.asymmetric:
            raise Unsupported(f"{record.spec} is not an asymmetric key spec")
        if usage is not None:
            _require_usage(record, usage)
        version = self._keys.version(version_id)
        if version is None or version.key_id != record.id:
            raise KeyVersionNotFound
        return spec, version

    def _checked(
        self, scope: Scope, key: str, version_id: str, usage: KeyUsage, algorithm: str
    ) -> UsableVersion:
        spec, version = self.key_version(scope, key, version_id, usage)
        check_algorithm(spec, usage, algorithm)
        return version

    def check_sign(
        self, scope: Scope, key: str, version_id: str, algorithm: str, digest: bytes
    ) -> UsableVersion:
        """Every check AsymmetricSign/Verify make, the digest length last."""
        version = self._checked(scope, key, version_id, KeyUsage.SIGN_VERIFY, algorithm)
        size = DIGEST_BYTES[algorithm]
        if size is not None and len(digest) != size:
            raise InvalidInput("Digest", f"{algorithm} takes a {size}-byte digest.")
        return version

    def sign(
        self, scope: Scope, key: str, version_id: str, algorithm: str, digest: bytes
    ) -> VersionResult:
        """AsymmetricSign over a precomputed digest."""
        version = self.check_sign(scope, key, version_id, algorithm, digest)
        value = version.private_key_for(algorithm).sign(algorithm, digest)
        return VersionResult(version.key_id, version.version_id, value)

    def verify(
        self,
        scope: Scope,
        key: str,
        version_id: str,
        algorithm: str,
        digest: bytes,
        signature: bytes,
    ) -> tuple[UsableVersion, bool]:
        """AsymmetricVerify: whether the signature is valid (a bad one is ``False``)."""
        version = self.check_sign(scope, key, version_id, algorithm, digest)
        public = version.private_key_for(algorithm).public
        return version, public.verify(algorithm, digest, signature)

    def check_encrypt(
        self, scope: Scope, key: str, version_id: str, algorithm: str
    ) -> UsableVersion:
        """Every check AsymmetricEncrypt/Decrypt make before the data."""
        return self._checked(scope, key, version_id, KeyUsage.ENCRYPT_DECRYPT, algorithm)

    def encrypt(
        self, scope: Scope, key: str, version_id: str, algorithm: str, plaintext: bytes
    ) -> VersionResult:
        """AsymmetricEncrypt with the version's public key."""
        version = self.check_encrypt(scope, key, version_id, algorithm)
        public = version.private_key_for(algorithm).public
        limit = max_plaintext(public.spec, algorithm)
        if len(plaintext) > limit:
            raise InvalidInput("Plaintext", f"{algorithm} takes at most {limit} bytes here.")
        return VersionResult(
            version.key_id, version.version_id, public.encrypt(algorithm, plaintext)
        )

    def decrypt(
        self, scope: Scope, key: str, version_id: str, algorithm: str, ciphertext: bytes
    ) -> VersionResult:
        """AsymmetricDecrypt; any failure is the one opaque CiphertextBlob error."""
        version = self.check_encrypt(scope, key, version_id, algorithm)
        try:
            plaintext = version.private_key_for(algorithm).decrypt(algorithm, ciphertext)
        except DecryptionFailed as exc:
            raise CiphertextInvalid from exc
        return VersionResult(version.key_id, version.version_id, plaintext)

    def public_key(self, scope: Scope, key: str, version_id: str) -> tuple[UsableVersion, str]:
        """GetPublicKey: the version's public key in PEM."""
        _spec, version = self.key_version(scope, key, version_id, None)
        return version, version.private_key.public.pem()

    def mac_key(self, scope: Scope, key: str, algorithm: str) -> UsableVersion:
        """Resolve an Enabled HMAC key's primary version for ``algorithm``; DryRun stops here."""
        record = self._keys.resolve(scope, key)
        require_enabled(record)
        spec = _require_usage(record, KeyUsage.GENERATE_VERIFY_MAC)
        check_algorithm(spec, KeyUsage.GENERATE_VERIFY_MAC, algorithm)
        assert record.primary_version_id is not None
        version = self._keys.version(record.primary_version_id)
        if version is None:
            raise KeyNotFound
        return version

    def generate_mac(self, scope: Scope, key: str, algorithm: str, message: bytes) -> VersionResult:
        """GenerateMac with the key's primary version."""
        version = self.mac_key(scope, key, algorithm)
        return VersionResult(version.key_id, version.version_id, version.mac_key.mac(message))

    def verify_mac(
        self, scope: Scope, key: str, algorithm: str, message: bytes, tag: bytes
    ) -> tuple[UsableVersion, bool]:
        """VerifyMac: whether ``tag`` is the message's MAC under the key."""
        version = self.mac_key(scope, key, algorithm)
        return version, version.mac_key.verify(message, tag)
