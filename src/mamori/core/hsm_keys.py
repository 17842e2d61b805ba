"""Key versions whose key lives in a PKCS#11 token (``ProtectionLevel=HSM``): AES keys, RSA and
EC key pairs, and HMAC keys; and certificates' key pairs kept there.

The store keeps only a reference for such a version or certificate: ``pkcs11:`` and the token
object's label, never material. The label is derived from the ids (key and version, or
certificate), so the token object and the store row name each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from mamori.core.errors import DomainError, UnsupportedProtectionLevel
from mamori.crypto.aead import Aead
from mamori.crypto.asymmetric import AsymmetricKey
from mamori.crypto.mac import Mac
from mamori.crypto.specs import Cipher, Family, KeySpec, KeyUsage
from mamori.hsm import HsmError

if TYPE_CHECKING:
    from mamori.hsm import Token

REFERENCE_PREFIX: Final = b"pkcs11:"


class HsmUnavailable(DomainError):
    """The token holding the key cannot be used right now (absent, logged out, failing)."""

    code = "ServiceUnavailableTemporary"


class OnEventLoop(Exception):
    """A token operation was about to run on the event loop: an inline action's key turned out
    to live in a token, whose device may take milliseconds (or, failing, far longer). The
    gateway runs the request again on a worker thread; nothing was done on the token yet."""


@contextlib.contextmanager
def _device() -> Iterator[None]:
    """Token failures surface as ``HsmUnavailable`` (503), not a 500; and no token call runs
    on the event loop (``OnEventLoop``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # a worker thread: the token may take its time here
    else:
        raise OnEventLoop
    try:
        yield
    except HsmError as exc:
        raise HsmUnavailable from exc


def version_label(key_id: str, version_id: str) -> str:
    """The token object label of one key version."""
    return f"mamori/key/{key_id}/{version_id}"


def certificate_label(cert_id: str) -> str:
    """The token object label of one certificate's key pair."""
    return f"mamori/certificate/{cert_id}"


def _reference(label: str) -> bytes:
    return REFERENCE_PREFIX + label.encode("ascii")


class HsmVersions:
    """Generates, opens and destroys HSM key versions; every method fails with a domain error."""

    def __init__(self, token: Token | None) -> None:
        self._token = token

    @property
    def configured(self) -> bool:
        """Whether this server has a token for HSM keys."""
        return self._token is not None

    def algorithms(self, spec: KeySpec, *usages: KeyUsage) -> frozenset[str]:
        """The algorithms of an RSA or EC ``spec`` for ``usages`` that a key pair in the token
        runs (empty: the token cannot hold one); ``UnsupportedProtectionLevel`` without a
        token."""
        if self._token is None:
            raise UnsupportedProtectionLevel
        with _device():
            found = self._token.capabilities()
        return frozenset().union(*(found.algorithms(spec, usage) for usage in usages))

    def check(self, spec: KeySpec, usage: KeyUsage) -> None:
        """Refuse HSM for a spec (and usage) the token cannot hold or run any algorithm of, or
        when no token is configured: at creation, never at first use."""
        if self._token is None:
            raise UnsupportedProtectionLevel
        if spec.symmetric:
            # PKCS#11 has no SM4-GCM mechanism (SoftHSM2 has no SM4 at all).
            if spec.cipher is not Cipher.AES_GCM:
                raise UnsupportedProtectionLevel
            return
        if not self.algorithms(spec, usage):
            raise UnsupportedProtectionLevel

    def generate(self, key_id: str, version_id: str, spec: KeySpec, usage: KeyUsage) -> bytes:
        """Make the version's key in the token; returns the reference the store keeps."""
        self.check(spec, usage)
        assert self._token is not None
        label = version_label(key_id, version_id)
        with _device():
            if spec.symmetric:
                self._token.generate_aes(label, spec.material_bytes * 8)
            elif spec.family is Family.HMAC:
                self._token.generate_hmac(label, spec)
            else:
                self._token.generate_pair(label, spec, usage)
        return _reference(label)

    def open(
        self, reference: bytes, key_id: str, version_id: str, spec: KeySpec, usage: KeyUsage
    ) -> Aead | AsymmetricKey | Mac:
        """The token key a stored reference names, checked against the version it belongs to."""
        label = version_label(key_id, version_id)
        if spec.asymmetric:
            return self.open_pair(reference, label, spec, usage)
        if self._token is None or reference != _reference(label):
            raise HsmUnavailable
        handle: Aead | Mac | None
        with _device():
            if spec.symmetric:
                aead = self._token.aead(label)
                handle = None if aead is None else _DomainAead(aead)
            else:
                mac = self._token.mac(label, spec)
                handle = None if mac is None else _DomainMac(mac)
        if handle is None:
            raise HsmUnavailable
        return handle

    def discard(self, key_id: str, version_id: str) -> None:
        """Destroy a version's token objects; best effort (used to undo and after deletion)."""
        self.discard_label(version_label(key_id, version_id))

    # -- key pairs by label (certificates) ---------------------------------------------------

    def generate_pair(self, label: str, spec: KeySpec, *usages: KeyUsage) -> bytes:
        """A non-extractable key pair for ``usages`` made in the token as ``label`` (the caller
        checked ``algorithms``); returns the reference the store keeps."""
        if self._token is None:
            raise UnsupportedProtectionLevel
        with _device():
            self._token.generate_pair(label, spec, *usages)
        return _reference(label)

    def open_pair(
        self, reference: bytes, label: str, spec: KeySpec, *usages: KeyUsage
    ) -> AsymmetricKey:
        """The token key pair a stored reference names, checked against the label it must be."""
        if self._token is None or reference != _reference(label):
            raise HsmUnavailable
        with _device():
            pair = self._token.private_key(label, spec, *usages)
        if pair is None:
            raise HsmUnavailable
        return _DomainKey(pair)

    def discard_label(self, label: str) -> None:
        """Destroy the token objects labelled ``label``; best effort (to undo, after deletion)."""
        if self._token is None:
            return
        # A leftover token object is orphaned, not dangerous: nothing references it.
        with contextlib.suppress(HsmError):
            self._token.destroy(label)


class _DomainAead:
    """A token AES key whose device failures are ``HsmUnavailable``."""

    __slots__ = ("_aead",)

    def __init__(self, aead: Aead) -> None:
        self._aead = aead

    def seal(self, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> tuple[bytes, bytes]:
        """Encrypt on the token."""
        with _device():
            return self._aead.seal(plaintext, aad, iv)

    def open(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt on the token."""
        with _device():
            return self._aead.open(iv, sealed, aad)


class _DomainKey(AsymmetricKey):
    """A token key pair whose device failures are ``HsmUnavailable``."""

    __slots__ = ("_key", "public", "spec")

    def __init__(self, key: AsymmetricKey) -> None:
        self._key = key
        self.spec = key.spec
        self.public = key.public

    def offers(self, algorithm: str) -> bool:
        """Whether the token runs ``algorithm``."""
        return self._key.offers(algorithm)

    def sign(self, algorithm: str, digest: bytes) -> bytes:
        """Sign on the token."""
        with _device():
            return self._key.sign(algorithm, digest)

    def decrypt(self, algorithm: str, ciphertext: bytes) -> bytes:
        """Decrypt on the token."""
        with _device():
            return self._key.decrypt(algorithm, ciphertext)


class _DomainMac(Mac):
    """A token HMAC key whose device failures are ``HsmUnavailable``."""

    __slots__ = ("_mac", "algorithm")

    def __init__(self, mac: Mac) -> None:
        self._mac = mac
        self.algorithm = mac.algorithm

    def mac(self, message: bytes) -> bytes:
        """The MAC, computed on the token."""
        with _device():
            return self._mac.mac(message)
