"""PKCS#11 tokens: keys generated inside a token, used through it, never extracted.

Sits between ``crypto`` and ``seal``: the PKCS#11 seal keeps the root key here, and ``core`` keeps
``ProtectionLevel=HSM`` key versions here. Nothing above this package touches ``pkcs11``.

``Token`` and ``TokenAead`` load python-pkcs11 on first use (PEP 562): a server without a token
(and every ``mamori.testing`` start) does without its import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.hsm._config import HsmConfig, find_module
from mamori.hsm._errors import HsmError, TokenUnavailable

if TYPE_CHECKING:
    from mamori.hsm._token import Token, TokenAead

__all__ = ["HsmConfig", "HsmError", "Token", "TokenAead", "TokenUnavailable", "find_module"]


def __getattr__(name: str) -> object:
    if name in ("Token", "TokenAead"):
        from mamori.hsm import _token

        return getattr(_token, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
