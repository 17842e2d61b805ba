"""PKCS#11 tokens: keys generated inside a token, used through it, never extracted.

Sits between ``crypto`` and ``seal``: the PKCS#11 seal keeps the root key here, and ``core`` keeps
``ProtectionLevel=HSM`` key versions (AES, RSA, EC and HMAC) here. Nothing above this package
touches ``pkcs11``.
"""

from __future__ import annotations

from mamori.hsm._capabilities import Capabilities
from mamori.hsm._config import HsmConfig, find_module
from mamori.hsm._errors import HsmError, TokenUnavailable
from mamori.hsm._keys import TokenAead, TokenMac, TokenPrivateKey
from mamori.hsm._token import Token

__all__ = [
    "Capabilities",
    "HsmConfig",
    "HsmError",
    "Token",
    "TokenAead",
    "TokenMac",
    "TokenPrivateKey",
    "TokenUnavailable",
    "find_module",
]
