"""The cryptographic calls of the KMS instance API (the dedicated gateway), without HTTP.

They differ from the shared gateway's actions in ways the official instance SDKs depend on:

* ``Iv`` is a field of its own and ``CiphertextBlob`` is ciphertext ‖ tag (GCM), so a blob
  names no key version. Plain ``Encrypt``/``Decrypt``/``GenerateDataKey``, ``Sign``,
  ``Verify`` and ``GetPublicKey`` use the key's **initial** version (the one that exists for
  as long as the key does) unless the transfer clients' ``x-kms-migrationkeyversionid``
  names another; the ``Advance`` calls use the **primary** version and self-describing blobs
  (``$`` 0x00 0x02 ‖ the shared gateway's blob bytes, ``crypto/blob.py``).
* ``Aad`` is raw bytes. The shared gateway seals with the hex SHA-256 of the
  EncryptionContext (``crypto/context.py``); ``alibabacloud-kms-python-sdk`` sends exactly
  that, ``alibabacloud-dkms-transfer`` sends the 32 raw digest bytes. ``caller_aad`` reads a
  32-byte Aad as that digest, in its hex form, so both SDKs' blobs open on either gateway.
  A 32-byte Aad and its lower-case hex spelling are therefore one AAD (two spellings of one
  digest, never two contexts).
* Symmetric keys also offer CBC and ECB (``crypto/block_modes.py``, under keys derived per mode)
  and asymmetric keys take ``Encrypt``/``Decrypt`` with their OAEP / SM2PKE algorithms.

Resolution (``key_target``, ``version_target``) is separate from the operations so that the
gateway authorizes the key it resolved before any key state or material is looked at.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import serialization

from mamori.core.crypto_ops import MAX_PLAINTEXT, require_enabled, require_usable, version_aad
from mamori.core.errors import CiphertextInvalid, InvalidInput, KeyNotFound, Unsupported
from mamori.core.keys import KeyService, UsableVersion
from mamori.core.model import KeyRecord
from mamori.core.refs import Scope, parse_key_ref
from mamori.crypto import asymmetric, blob
from mamori.crypto.aead import AeadKey, DecryptionFailed
from mamori.crypto.block_modes import MODES, NO_PADDING, PADDINGS, PKCS7, BlockModeKey
from mamori.crypto.specs import DIGEST_BYTES, SPECS, Cipher, Family, KeySpec, KeyUsage

GCM: Final[dict[Cipher, str]] = {Cipher.AES_GCM: "AES_GCM", Cipher.SM4_GCM: "SM4_GCM"}
_FAMILY: Final[dict[Cipher, str]] = {Cipher.AES_GCM: "AES", Cipher.SM4_GCM: "SM4"}
MAX_AAD: Final = 8192
RANDOM_MAX: Final = 1024
DATA_KEY_MAX: Final = 1024
# GenerateDataKeyPair: the pair specs whose private key is PKCS#8 (SM2 material is not).
PAIR_SPECS: Final = ("RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P256K")
KEY_FORMATS: Final = ("PEM", "DER")
RAW: Final = "RAW"
DIGEST: Final = "DIGEST"


@dataclass(frozen=True, slots=True)
class Target:
    """The key a request reaches, and every policy-form name it reached it by (``key/<id>``,
    plus ``alias/<name>`` when named by an alias): what the AAP policy is checked against."""

    record: KeyRecord
    resources: tuple[str, ...]
    version_id: str | None = None  # named by the request (header or Advance blob), if any


@dataclass(frozen=True, slots=True)
class Sealed:
    """An instance-API ciphertext: the bytes of ``CiphertextBlob`` and ``Iv``."""

    key_id: str
    version_id: str
    algorithm: str
    padding_mode: str
    iv: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Opened:
    """A decrypted payload and the version that opened it."""

    key_id: str
    version_id: str
    algorithm: str
    padding_mode: str
    plaintext: bytes


@dataclass(frozen=True, slots=True)
class DataKeyPair:
    """GenerateDataKeyPair's result: the private key sealed under the key, and the public key."""

    sealed: Sealed
    private_key: bytes  # PKCS#8, in the KeyFormat asked for
    public_key: bytes  # SubjectPublicKeyInfo, in the KeyFormat asked for
    key_pair_spec: str


def caller_aad(aad: bytes) -> bytes:
    """The caller's AAD as it is sealed: a 32-byte Aad (dkms-transfer's raw SHA-256 of the
    EncryptionContext) in its hex form, the shared gateway's; anything else as it is."""
    if len(aad) > MAX_AAD:
        raise InvalidInput("Aad", f"It is longer than {MAX_AAD} bytes.")
    return aad.hex().encode("ascii") if len(aad) == hashlib.sha256().digest_size else aad


def _empty(name: str, value: bytes | str, why: str) -> None:
    # A parameter with security meaning is refused, never dropped, where it cannot apply.
    if value:
        raise InvalidInput(name, why)


class InstanceCrypto:
    """The instance API's key operations over the key service's caches."""

    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    # -- resolution (before authorization) ---------------------------------------------------

    def key_target(self, scope: Scope, key: str) -> Target:
        """The key a KeyId names (id, alias or ARN)."""
        if not key:
            raise InvalidInput("KeyId", "It is required.")
        record = self._keys.resolve(scope, key)
        ref = parse_key_ref(scope, key)
        names = [f"key/{record.id}"]
        if ref is not None and ref.alias is not None:
            names.append(ref.alias)
        return Target(record, tuple(names))

    def version_target(self, scope: Scope, version_id: str, key: str) -> Target:
        """The key of a version id (the migration header or an Advance blob's); ``key``, when
        given, must name that same key. Every mismatch is the one opaque blob error."""
        owner = self._keys.key_of_version(version_id) if _uuid(version_id) else None
        if owner is None:
            raise CiphertextInvalid
        try:
            record = self._keys.resolve(scope, owner)
        except KeyNotFound:
            raise CiphertextInvalid from None
        if key:
            named = self.key_target(scope, key)
            if named.record.id != record.id:
                raise CiphertextInvalid
            return Target(record, named.resources, version_id)
        return Target(record, (f"key/{record.id}",), version_id)

    def advance_target(self, scope: Scope, ciphertext: bytes, key: str) -> tuple[Target, blob.Blob]:
        """The key and parsed blob of an Advance ciphertext (``$`` 0x00 0x02 ‖ blob)."""
        if not ciphertext.startswith(blob.ADVANCE_PREFIX):
            raise CiphertextInvalid
        try:
            parsed = blob.parse(ciphertext)
        except blob.MalformedBlob:
            raise CiphertextInvalid from None
        return self.version_target(scope, parsed.version_id, key), parsed

    # -- versions ----------------------------------------------------------------------------

    def _version(self, target: Target, advance: bool) -> UsableVersion:
        record = target.record
        if target.version_id is not None:
            version_id: str | None = target.version_id
        elif advance:
            version_id = record.primary_version_id
        else:
            version_id = self._keys.initial_version_id(record.id)
        version = self._keys.version(version_id) if version_id else None
        if version is None or version.key_id != record.id:
            raise CiphertextInvalid if target.version_id else KeyNotFound
        return version

    # -- Encrypt / Decrypt -------------------------------------------------------------------

    def encrypt(
        self,
        target: Target,
        plaintext: bytes,
        algorithm: str,
        aad: bytes,
        iv: bytes,
        padding_mode: str,
        *,
        advance: bool = False,
    ) -> Sealed:
        """Encrypt (initial version) or AdvanceEncrypt (primary version, ``$`` blob)."""
        record = target.record
        require_enabled(record, self._keys.now())
        spec = SPECS[record.spec]
        if record.usage != KeyUsage.ENCRYPT_DECRYPT:
            raise Unsupported(f"the key's usage is {record.usage}; it cannot encrypt")
        if spec.asymmetric:
            if advance:
                raise Unsupported("Advance calls take symmetric keys")
            return self._asymmetric_encrypt(
                target, spec, plaintext, algorithm, aad, iv, padding_mode
            )
        assert spec.cipher is not None
        algorithm = algorithm or GCM[spec.cipher]
        if len(plaintext) > MAX_PLAINTEXT:
            raise InvalidInput("Plaintext", f"It is longer than {MAX_PLAINTEXT} bytes.")
        version = self._version(target, advance)
        if algorithm == GCM[spec.cipher]:
            _empty("PaddingMode", padding_mode, f"{algorithm} takes no padding.")
            # Alibaba lets the caller choose a GCM IV; Mamori does not: one repeated IV under
            # a key reveals other blobs' keystream to anyone allowed to Encrypt.
            _empty("Iv", iv, f"{algorithm} draws its own IV; send none.")
            iv_used, sealed = version.aead.seal(plaintext, version_aad(version, caller_aad(aad)))
            if advance:
                sealed = base_blob(version.version_id, iv_used, sealed, advance=True)
            return Sealed(record.id, version.version_id, algorithm, "", iv_used, sealed)
        if advance:
            raise InvalidInput("Algorithm", f"Advance calls take {GCM[spec.cipher]} only.")
        mode = _block_mode(version, spec, algorithm)
        padding_mode = _padding(padding_mode)
        _empty("Aad", aad, f"{algorithm} authenticates nothing; Aad needs a GCM algorithm.")
        if iv and mode.iv_bytes != len(iv):
            raise InvalidInput("Iv", f"{algorithm} takes a {mode.iv_bytes}-byte IV or none.")
        try:
            iv_used, ciphertext = mode.encrypt(plaintext, padding_mode, iv or None)
        except ValueError:
            raise InvalidInput(
                "Plaintext", "NO_PADDING takes one or more whole 16-byte blocks."
            ) from None
        return Sealed(record.id, version.version_id, algorithm, padding_mode, iv_used, ciphertext)

    def _asymmetric_encrypt(
        self,
        target: Target,
        spec: KeySpec,
        plaintext: bytes,
        algorithm: str,
        aad: bytes,
        iv: bytes,
        padding_mode: str,
    ) -> Sealed:
        algorithm = algorithm or spec.encryption[0]
        _check_asymmetric(spec, algorithm, aad, iv, padding_mode)
        version = self._version(target, advance=False)
        public = version.private_key_for(algorithm).public
        limit = asymmetric.max_plaintext(spec, algorithm)
        if len(plaintext) > limit:
            raise InvalidInput("Plaintext", f"{algorithm} takes at most {limit} bytes here.")
        ciphertext = public.encrypt(algorithm, plaintext)
        return Sealed(target.record.id, version.version_id, algorithm, "", b"", ciphertext)

    def decrypt(
        self,
        target: Target,
        ciphertext: bytes,
        algorithm: str,
        aad: bytes,
        iv: bytes,
        padding_mode: str,
        parsed: blob.Blob | None = None,
    ) -> Opened:
        """Decrypt (``target`` from KeyId and/or the migration header) or AdvanceDecrypt
        (``parsed``: the Advance blob ``advance_target`` read)."""
        record = target.record
        spec = SPECS[record.spec]
        if spec.asymmetric and parsed is None:
            require_enabled(record, self._keys.now())
            if record.usage != KeyUsage.ENCRYPT_DECRYPT:
                raise Unsupported(f"the key's usage is {record.usage}; it cannot decrypt")
            algorithm = algorithm or spec.encryption[0]
            _check_asymmetric(spec, algorithm, aad, iv, padding_mode)
            version = self._version(target, advance=False)
            try:
                plaintext = version.private_key_for(algorithm).decrypt(algorithm, ciphertext)
            except DecryptionFailed as exc:
                raise CiphertextInvalid from exc
            return Opened(record.id, version.version_id, algorithm, "", plaintext)
        require_usable(record, self._keys.now())
        assert spec.cipher is not None
        algorithm = algorithm or GCM[spec.cipher]
        version = self._version(target, advance=parsed is not None)
        if parsed is not None:
            if algorithm != GCM[spec.cipher]:
                raise InvalidInput("Algorithm", f"Advance calls take {GCM[spec.cipher]} only.")
            # The transfer client repeats the blob's IV in Iv: it must be the same bytes.
            if iv and iv != parsed.iv:
                raise CiphertextInvalid
            iv, ciphertext = parsed.iv, parsed.sealed
        if algorithm == GCM[spec.cipher]:
            _empty("PaddingMode", padding_mode, f"{algorithm} takes no padding.")
            try:
                plaintext = version.aead.open(iv, ciphertext, version_aad(version, caller_aad(aad)))
            except DecryptionFailed as exc:
                raise CiphertextInvalid from exc
            return Opened(record.id, version.version_id, algorithm, "", plaintext)
        mode = _block_mode(version, spec, algorithm)
        padding_mode = _padding(padding_mode)
        _empty("Aad", aad, f"{algorithm} authenticates nothing; Aad needs a GCM algorithm.")
        try:
            plaintext = mode.decrypt(ciphertext, padding_mode, iv)
        except DecryptionFailed as exc:
            raise CiphertextInvalid from exc
        return Opened(record.id, version.version_id, algorithm, padding_mode, plaintext)

    # -- data keys ---------------------------------------------------------------------------

    def generate_data_key(
        self, target: Target, size: int, algorithm: str, aad: bytes, *, advance: bool = False
    ) -> tuple[Sealed, bytes]:
        """(Advance)GenerateDataKey: ``size`` random bytes (32 when 0) sealed with GCM."""
        size = size or 32
        if not 1 <= size <= DATA_KEY_MAX:
            raise InvalidInput("NumberOfBytes", f"It must be between 1 and {DATA_KEY_MAX}.")
        self._require_gcm(target, algorithm)
        data_key = os.urandom(size)
        return self.encrypt(target, data_key, "", aad, b"", "", advance=advance), data_key

    def generate_data_key_pair(
        self,
        target: Target,
        algorithm: str,
        key_pair_spec: str,
        key_format: str,
        aad: bytes,
        *,
        advance: bool = False,
    ) -> DataKeyPair:
        """(Advance)GenerateDataKeyPair(WithoutPlaintext): a fresh key pair whose PKCS#8 private
        key is sealed with GCM under the key; the caller drops the plaintext if it must."""
        key_pair_spec = key_pair_spec or "RSA_2048"
        if key_pair_spec not in PAIR_SPECS:
            raise InvalidInput("KeyPairSpec", f"It must be one of {', '.join(PAIR_SPECS)}.")
        key_format = key_format or "PEM"
        if key_format not in KEY_FORMATS:
            raise InvalidInput("KeyFormat", "It must be PEM or DER.")
        self._require_gcm(target, algorithm)
        # Checked before the (slow) generation: a refused key costs no RSA key.
        require_usable(target.record, self._keys.now())
        pair_spec = SPECS[key_pair_spec]
        material = asymmetric.generate(pair_spec)
        # Generated just now: the RSA consistency checks would only repeat OpenSSL's work, and
        # they run holding the GIL (~200 ms for RSA_4096, measured), stalling every request.
        private = serialization.load_der_private_key(
            material.reveal(), None, unsafe_skip_rsa_key_validation=True
        )
        encoding = serialization.Encoding.PEM if key_format == "PEM" else serialization.Encoding.DER
        private_bytes = private.private_bytes(
            encoding, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public_bytes = private.public_key().public_bytes(
            encoding, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        sealed = self.encrypt(target, private_bytes, "", aad, b"", "", advance=advance)
        return DataKeyPair(sealed, private_bytes, public_bytes, key_pair_spec)

    def _require_gcm(self, target: Target, algorithm: str) -> None:
        spec = SPECS[target.record.spec]
        if spec.cipher is None:
            raise Unsupported(f"{spec.name} keys cannot seal data keys")
        if algorithm and algorithm != GCM[spec.cipher]:
            raise InvalidInput("Algorithm", f"Data keys are sealed with {GCM[spec.cipher]} only.")

    # -- Sign / Verify / GetPublicKey --------------------------------------------------------

    def _signing(self, target: Target, algorithm: str) -> tuple[KeySpec, str, UsableVersion]:
        record = target.record
        require_enabled(record, self._keys.now())
        spec = SPECS[record.spec]
        if record.usage != KeyUsage.SIGN_VERIFY:
            raise Unsupported(f"the key's usage is {record.usage}; it cannot sign or verify")
        algorithm = algorithm or spec.signing[0]
        if algorithm not in spec.signing:
            raise InvalidInput("Algorithm", f"{spec.name} keys take {', '.join(spec.signing)}.")
        return spec, algorithm, self._version(target, advance=False)

    def sign(
        self, target: Target, algorithm: str, message_type: str, message: bytes, digest: bytes
    ) -> tuple[str, str, bytes]:
        """(version id, algorithm, signature) over a RAW message or a DIGEST."""
        spec, algorithm, version = self._signing(target, algorithm)
        to_sign = _digest(spec, algorithm, message_type, message, digest)
        signature = version.private_key_for(algorithm).sign(algorithm, to_sign)
        return version.version_id, algorithm, signature

    def verify(
        self,
        target: Target,
        algorithm: str,
        message_type: str,
        message: bytes,
        digest: bytes,
        signature: bytes,
    ) -> tuple[str, str, bool]:
        """(version id, algorithm, whether ``signature`` is valid)."""
        spec, algorithm, version = self._signing(target, algorithm)
        to_check = _digest(spec, algorithm, message_type, message, digest)
        valid = version.private_key_for(algorithm).public.verify(algorithm, to_check, signature)
        return version.version_id, algorithm, valid

    def public_key(self, target: Target) -> tuple[str, str]:
        """(version id, SubjectPublicKeyInfo PEM) of an asymmetric key."""
        record = target.record
        require_enabled(record, self._keys.now())
        if not SPECS[record.spec].asymmetric:
            raise Unsupported(f"{record.spec} is not an asymmetric key spec")
        version = self._version(target, advance=False)
        return version.version_id, version.private_key.public.pem()


def random_bytes(length: int) -> bytes:
    """GenerateRandom: 1 to 1024 bytes from the OS."""
    if not 1 <= length <= RANDOM_MAX:
        raise InvalidInput("Length", f"It must be between 1 and {RANDOM_MAX}.")
    return os.urandom(length)


def base_blob(version_id: str, iv: bytes, sealed: bytes, *, advance: bool) -> bytes:
    """The raw bytes of a blob (``crypto/blob.py``'s layout, with the Advance prefix or not)."""
    prefix = blob.ADVANCE_PREFIX if advance else b""
    return prefix + version_id.encode("ascii") + iv + sealed


def _uuid(text: str) -> bool:
    return blob.is_version_id(text)


def _block_mode(version: UsableVersion, spec: KeySpec, algorithm: str) -> BlockModeKey:
    assert spec.cipher is not None
    offered = [a for a, (family, _mode) in MODES.items() if family == _FAMILY[spec.cipher]]
    if algorithm not in MODES or algorithm not in offered:
        choices = ", ".join([GCM[spec.cipher], *offered])
        raise InvalidInput("Algorithm", f"{spec.name} keys take {choices}.")
    aead = version.aead
    if not isinstance(aead, AeadKey):
        raise Unsupported(f"{algorithm} is not offered for keys inside an HSM")
    return aead.block_mode(algorithm)


def _padding(padding_mode: str) -> str:
    padding_mode = padding_mode or PKCS7
    if padding_mode not in PADDINGS:
        raise InvalidInput("PaddingMode", f"It must be {PKCS7} or {NO_PADDING}.")
    return padding_mode


def _check_asymmetric(
    spec: KeySpec, algorithm: str, aad: bytes, iv: bytes, padding_mode: str
) -> None:
    if algorithm not in spec.encryption:
        raise InvalidInput("Algorithm", f"{spec.name} keys take {', '.join(spec.encryption)}.")
    _empty("Aad", aad, f"{algorithm} takes no Aad.")
    _empty("Iv", iv, f"{algorithm} takes no Iv.")
    _empty("PaddingMode", padding_mode, f"{algorithm} takes no PaddingMode.")


def _digest(
    spec: KeySpec, algorithm: str, message_type: str, message: bytes, digest: bytes
) -> bytes:
    """What the private key signs: the DIGEST as given, or the RAW message hashed."""
    message_type = message_type or RAW
    if message_type not in (RAW, DIGEST):
        raise InvalidInput("MessageType", "It must be RAW or DIGEST.")
    if digest and message:
        raise InvalidInput("Digest", "Send the digest in Digest or in Message, not both.")
    if digest and message_type == RAW:
        raise InvalidInput("Digest", "A RAW MessageType signs Message, not Digest.")
    size = DIGEST_BYTES[algorithm]
    if message_type == DIGEST:
        value = digest or message
        if size is None:
            raise InvalidInput("MessageType", f"{algorithm} signs RAW messages only.")
        if len(value) != size:
            raise InvalidInput("Message", f"{algorithm} takes a {size}-byte digest.")
        return value
    if len(message) > MAX_PLAINTEXT:
        raise InvalidInput("Message", f"It is longer than {MAX_PLAINTEXT} bytes.")
    if size is None:
        return message
    if spec.family is Family.SM2:
        # SM2DSA hashes SM3(Z ‖ M), with Z from the signer's identity: send the DIGEST.
        raise InvalidInput("MessageType", "SM2DSA signs DIGESTs (SM3 of Z ‖ M) only.")
    return hashlib.sha256(message).digest()
