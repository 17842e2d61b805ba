"""What goes wrong with a token. Messages name the module and the token, never the PIN.

These load without python-pkcs11 (a server with no token never imports it); what sorts the
token's own exceptions is in ``_failures``."""

from __future__ import annotations


class HsmError(RuntimeError):
    """Any failure talking to the PKCS#11 token."""


class TokenUnavailable(HsmError):
    """The module does not load, the token is absent, the PIN is refused, or the device went
    away: nothing on the token can be used right now."""
