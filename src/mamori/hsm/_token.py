"""One logged-in PKCS#11 session and the AES keys that live in it.

python-pkcs11 sessions are not thread-safe, and the API runs handlers on worker threads, so every
call into the token goes through one lock. A token operation takes ~20 µs on SoftHSM2; a real
HSM's latency dominates long before the lock does.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, Final, NoReturn

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from mamori.crypto.aead import IV_BYTES, TAG_BYTES, DecryptionFailed
from mamori.hsm._config import HsmConfig
from mamori.hsm._errors import HsmError, TokenUnavailable

# Errors that mean the token itself is gone or unusable, as opposed to a bad ciphertext.
_GONE: Final = (
    p11.DeviceError,
    p11.DeviceMemory,
    p11.DeviceRemoved,
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.UserNotLoggedIn,
)

# Generated inside the token and never leaving it: not extractable, sensitive (no CKA_VALUE
# read), persistent, private, and good only for encrypt/decrypt (no wrapping other keys out).
_AES_TEMPLATE: Final[dict[Attribute, Any]] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.SIGN: False,
    Attribute.VERIFY: False,
    Attribute.DERIVE: False,
}


class Token:
    """A token opened with the user PIN; keys are found and made by label."""

    def __init__(self, session: Any, description: str) -> None:
        self._session = session
        self._description = description
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config: HsmConfig) -> Token:
        """Load the module, find the token by label and log in; ``TokenUnavailable`` if any
        step fails (the message never contains the PIN)."""
        where = f"token {config.token_label!r} in {config.module}"
        if not config.module.is_file():
            raise TokenUnavailable(f"PKCS#11 module {config.module} does not exist")
        if not config.pin:
            raise TokenUnavailable(f"no PIN configured for {where} (hsm.pin or MAMORI_HSM_PIN)")
        try:
            lib = pkcs11.lib(str(config.module))
            token = lib.get_token(token_label=config.token_label)
            session = token.open(user_pin=config.pin, rw=True)
        except p11.NoSuchToken as exc:
            raise TokenUnavailable(f"no {where}") from exc
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
            raise TokenUnavailable(f"the PIN for {where} was refused") from exc
        except p11.PinLocked as exc:
            raise TokenUnavailable(f"the PIN for {where} is locked") from exc
        except p11.PKCS11Error as exc:
            raise TokenUnavailable(f"cannot open {where}: {type(exc).__name__}") from exc
        return cls(session, where)

    def __repr__(self) -> str:
        return f"<Token {self._description}>"

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock, contextlib.suppress(p11.PKCS11Error):
            self._session.close()

    def generate_aes(self, label: str, bits: int) -> TokenAead:
        """A new non-extractable AES key of ``bits`` bits, stored in the token as ``label``."""
        with self._lock:
            try:
                key = self._session.generate_key(
                    KeyType.AES,
                    bits,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    template=_AES_TEMPLATE,
                )
            except p11.PKCS11Error as exc:
                self._fail(exc, f"generate a {bits}-bit AES key")
            return TokenAead(key, self._lock, self._fail)

    def aead(self, label: str) -> TokenAead | None:
        """The AES key stored as ``label``, or None when the token has none. Callers cache the
        result (``core`` keeps it with the key version), so this searches the token each time."""
        with self._lock:
            try:
                key = self._session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=label)
            except p11.NoSuchKey:
                return None
            except p11.PKCS11Error as exc:
                self._fail(exc, "find a key")
            return TokenAead(key, self._lock, self._fail)

    def destroy(self, label: str) -> None:
        """Delete every object labelled ``label`` from the token (absent: nothing to do)."""
        with self._lock:
            try:
                for obj in list(self._session.get_objects({Attribute.LABEL: label})):
                    obj.destroy()
            except p11.PKCS11Error as exc:
                self._fail(exc, "destroy a key")

    def _fail(self, exc: p11.PKCS11Error, doing: str) -> NoReturn:
        if isinstance(exc, _GONE):
            raise TokenUnavailable(f"{self._description} is unavailable") from exc
        raise HsmError(f"{self._description} could not {doing}: {type(exc).__name__}") from exc


_Fail = Callable[[p11.PKCS11Error, str], NoReturn]


class TokenAead:
    """AES-GCM with a key that stays in the token. Same contract as ``crypto.aead.AeadKey``,
    and the same bytes: a blob sealed here opens with the key's software twin and back."""

    __slots__ = ("_fail", "_key", "_lock")

    def __init__(self, key: Any, lock: threading.Lock, fail: _Fail) -> None:
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
            except _GONE as exc:
                self._fail(exc, "decrypt")
            except p11.PKCS11Error as exc:
                # SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, others as
                # CKR_ENCRYPTED_DATA_INVALID: either way the caller learns only "does not open".
                raise DecryptionFailed from exc
