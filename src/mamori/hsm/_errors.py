"""What goes wrong with a token. Messages name the module and the token, never the PIN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

from pkcs11 import exceptions as p11


class HsmError(RuntimeError):
    """Any failure talking to the PKCS#11 token."""


class TokenUnavailable(HsmError):
    """The module does not load, the token is absent, the PIN is refused, or the device went
    away: nothing on the token can be used right now."""


# Errors that mean the token itself is gone or unusable, as opposed to a bad ciphertext.
GONE: Final = (
    p11.DeviceError,
    p11.DeviceMemory,
    p11.DeviceRemoved,
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.UserNotLoggedIn,
)

# ``Token._fail``: raises ``TokenUnavailable`` or ``HsmError`` for what the token answered.
Fail = Callable[[p11.PKCS11Error, str], NoReturn]
