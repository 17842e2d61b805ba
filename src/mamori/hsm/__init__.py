"""PKCS#11 tokens: keys generated inside a token, used through it, never extracted.

Sits between ``crypto`` and ``seal``: the PKCS#11 seal keeps the root key here, and ``core`` keeps
``ProtectionLevel=HSM`` key versions (AES, RSA, EC and HMAC) here. Nothing above this package
touches ``pkcs11``.

``Token`` and the token-held keys load python-pkcs11 on first use (PEP 562): a server without a
token (and every ``mamori.testing`` start) does without its import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.hsm._capabilities import Capabilities
from mamori.hsm._config import HsmConfig, find_module
from mamori.hsm._errors import HsmError, TokenUnavailable

if TYPE_CHECKING:
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

# What loads python-pkcs11 with it, and the module it comes from.
_LAZY = {
    "Token": "_token",
    "TokenAead": "_keys",
    "TokenMac": "_keys",
    "TokenPrivateKey": "_keys",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: the interpreter's own import, which
    # ``-X importtime`` (and so the tests of what a start loads) sees.
    return getattr(__import__(f"mamori.hsm.{module}", fromlist=[name]), name)
