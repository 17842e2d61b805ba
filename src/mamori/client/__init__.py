"""Mamori's own client: signs requests (ACS3-HMAC-SHA256) and calls any action of a Mamori
server, repeating throttled calls with jittered backoff. It imports no server code, so it can
be installed and used on its own."""

from mamori.client._async import AsyncClient
from mamori.client._base import Credential, CredentialSource, MamoriError, Retry
from mamori.client._client import Client

__all__ = ["AsyncClient", "Client", "Credential", "CredentialSource", "MamoriError", "Retry"]
