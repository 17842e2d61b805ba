"""The asynchronous client: the same calls as ``Client``, awaited, with credentials that may
come from a source that refreshes them (the official credential chain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from mamori.client._base import KMS, CredentialSource, Protocol_, base_url, parse, prepare, verify


class AsyncClient:
    """Calls actions of a Mamori server; give either an AccessKey or a ``credentials`` source."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str = "",
        access_key_secret: str = "",
        *,
        security_token: str | None = None,
        credentials: CredentialSource | None = None,
        protocol: Protocol_ | None = None,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        if credentials is None and not (access_key_id and access_key_secret):
            raise ValueError("give an AccessKey or a credentials source")
        self._host = endpoint
        self._ak = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self._source = credentials
        self._http = httpx.AsyncClient(
            base_url=base_url(endpoint, protocol, ca_file),
            verify=verify(ca_file),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()

    async def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action``; raises ``MamoriError`` for a refusal, ``httpx.TransportError`` when
        the server cannot be reached or does not answer in time."""
        ak, secret, token = self._ak, self._secret, self._token
        if self._source is not None:
            credential = await self._source.get_credential_async()
            ak, secret = credential.access_key_id, credential.access_key_secret
            token = credential.security_token
        query, headers = prepare(self._host, action, version, params, ak, secret, token)
        response = await self._http.post("/", params=query, headers=headers)
        return parse(response.status_code, response.content)
