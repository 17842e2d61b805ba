"""PKCS#11 tokens: keys generated inside a token, used through it, never extracted.

Sits between ``crypto`` and ``seal``: the PKCS#11 seal keeps the root key here, and ``core`` keeps
``ProtectionLevel=HSM`` key versions here. Nothing above this package touches ``pkcs11``.
"""

from __future__ import annotations

from mamori.hsm._config import HsmConfig, find_module
from mamori.hsm._errors import HsmError, TokenUnavailable
from mamori.hsm._token import Token, TokenAead

__all__ = ["HsmConfig", "HsmError", "Token", "TokenAead", "TokenUnavailable", "find_module"]
