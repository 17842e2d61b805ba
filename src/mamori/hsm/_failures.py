"""How the token's own exceptions sort: the token gone, or a refusal of one operation. Apart
from ``_errors`` because it loads python-pkcs11."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

from pkcs11 import exceptions as p11

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
