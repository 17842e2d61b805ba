"""Mamori's own client: signs requests (ACS3-HMAC-SHA256) and calls any action of a Mamori
server, repeating throttled calls with jittered backoff. It imports no server code, so it can
be installed and used on its own.

``Client`` and ``AsyncClient`` load on first use (PEP 562), and httpx with them: commands of
``mamori`` that call no server (``mamori server`` among them) start without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.client._base import Credential, CredentialSource, MamoriError, Retry

if TYPE_CHECKING:
    from mamori.client._async import AsyncClient
    from mamori.client._client import Client

__all__ = ["AsyncClient", "Client", "Credential", "CredentialSource", "MamoriError", "Retry"]


def __getattr__(name: str) -> object:
    if name == "Client":
        from mamori.client._client import Client

        return Client
    if name == "AsyncClient":
        from mamori.client._async import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
