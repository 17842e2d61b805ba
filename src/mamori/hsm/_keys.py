"""Keys that stay in the token: AES-GCM, asymmetric private keys and HMAC keys.

Each holds a python-pkcs11 object of the one logged-in session and the session's lock (sessions
are not thread-safe), and produces exactly the bytes its software twin produces, so clients
cannot tell where a key lives.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NoReturn

from pkcs11 import Mechanism
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from mamori.crypto.aead import IV_BYTES, TAG_BYTES, DecryptionFailed
from mamori.crypto.asymmetric import AsymmetricKey, PublicKey
from mamori.crypto.mac import Mac
from mamori.crypto.specs import KeySpec
from mamori.hsm._failures import GONE, Fail
from mamori.hsm._mechanisms import DECRYPT, HMAC, SIGN, sign_input, signature


class TokenAead:
    """AES-GCM with a key that stays in the token. Same contract as ``crypto.aead.AeadKey``,
    and the same bytes: a blob sealed here opens with the key's software twin and back."""

    __slots__ = ("_fail", "_key", "_lock")

    def __init__(self, key: Any, lock: threading.Lock, fail: Fail) -> None:
        self._key = key
        self._lock = lock
        self._fail = fail

    def __repr__(self) -> str:
        return "<TokenAead AES-GCM, in token>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenAead cannot be pickled")

    def seal(self, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> tuple[bytes, bytes]:
        """Encrypt on the token; returns (iv, ciphertext ‖ tag)."""
        iv = iv or os.urandom(IV_BYTES)
        params = GCMParams(iv, aad or None, TAG_BYTES * 8)
        with self._lock:
            try:
                sealed = self._key.encrypt(
                    plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            except p11.PKCS11Error as exc:
                self._fail(exc, "encrypt")
        return iv, bytes(sealed)

    def open(self, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt on the token; ``DecryptionFailed`` for a bad tag, IV or ciphertext."""
        if len(iv) != IV_BYTES or len(sealed) < TAG_BYTES:
            raise DecryptionFailed
        params = GCMParams(iv, aad or None, TAG_BYTES * 8)
        with self._lock:
            try:
                return bytes(
                    self._key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                )
            except GONE as exc:
                self._fail(exc, "decrypt")
            except p11.PKCS11Error as exc:
                # SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, others as
                # CKR_ENCRYPTED_DATA_INVALID: either way the caller learns only "does not open".
                raise DecryptionFailed from exc


class TokenPrivateKey(AsymmetricKey):
    """An RSA or EC private key in the token. Signing and decryption run there; the public
    half (read from the token's public key object) verifies and encrypts in Mamori."""

    __slots__ = ("_fail", "_key", "_lock", "_offered", "public", "spec")

    def __init__(
        self,
        spec: KeySpec,
        key: Any,
        public: PublicKey,
        offered: frozenset[str],
        lock: threading.Lock,
        fail: Fail,
    ) -> None:
        self.spec = spec
        self.public = public
        self._key = key
        self._offered = offered
        self._lock = lock
        self._fail = fail

    def __repr__(self) -> str:
        return f"<TokenPrivateKey {self.spec.name}, in token>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenPrivateKey cannot be pickled")

    def offers(self, algorithm: str) -> bool:
        """Whether the token runs ``algorithm`` (the probe found it working)."""
        return algorithm in self._offered

    def sign(self, algorithm: str, digest: bytes) -> bytes:
        """Sign a digest on the token; the signature in the software keys' format."""
        mechanism, param = SIGN[algorithm]
        with self._lock:
            try:
                raw = self._key.sign(
                    sign_input(algorithm, digest), mechanism=mechanism, mechanism_param=param
                )
            except p11.PKCS11Error as exc:
                self._fail(exc, "sign")
        return signature(algorithm, bytes(raw))

    def decrypt(self, algorithm: str, ciphertext: bytes) -> bytes:
        """RSA-OAEP decryption on the token; ``DecryptionFailed`` for a ciphertext that does
        not open (whatever the token's code for it)."""
        mechanism, param = DECRYPT[algorithm]
        with self._lock:
            try:
                return bytes(
                    self._key.decrypt(ciphertext, mechanism=mechanism, mechanism_param=param)
                )
            except GONE as exc:
                self._fail(exc, "decrypt")
            except p11.PKCS11Error as exc:
                raise DecryptionFailed from exc


class TokenMac(Mac):
    """An HMAC key in the token; ``verify`` compares the token's MAC in constant time."""

    __slots__ = ("_fail", "_key", "_lock", "algorithm")

    def __init__(self, algorithm: str, key: Any, lock: threading.Lock, fail: Fail) -> None:
        self.algorithm = algorithm
        self._key = key
        self._lock = lock
        self._fail = fail

    def __repr__(self) -> str:
        return f"<TokenMac {self.algorithm}, in token>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenMac cannot be pickled")

    def mac(self, message: bytes) -> bytes:
        """The HMAC of ``message``, computed by the token."""
        with self._lock:
            try:
                return bytes(self._key.sign(message, mechanism=HMAC[self.algorithm]))
            except p11.PKCS11Error as exc:
                self._fail(exc, "compute a MAC")
