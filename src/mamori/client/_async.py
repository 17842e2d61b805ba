"""The asynchronous client: the same calls as ``Client``, awaited, with credentials that may
come from a source that refreshes them (the official credential chain)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from mamori.client._base import (
    KMS,
    CredentialSource,
    MamoriError,
    Protocol_,
    Retry,
    aread_answer,
    base_url,
    parse,
    prepare,
    throttled,
    verify,
)


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
        retry: Retry = Retry(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if credentials is None and not (access_key_id and access_key_secret):
            raise ValueError("give an AccessKey or a credentials source")
        self._host = endpoint
        self._ak = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self._source = credentials
        self._retry = retry
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            transport=transport,
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
        """Call ``action`` (as ``Client.call``: catalogue parameter names, throttled calls
        repeated as ``retry`` says); raises ``MamoriError`` for a refusal,
        ``httpx.TransportError`` when the server cannot be reached or does not answer in time."""
        delays = self._retry.delays()
        while True:
            try:
                return await self._send(action, version, params)
            except MamoriError as exc:
                delay = next(delays, None) if throttled(exc) else None
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    async def _send(self, action: str, version: str, params: dict[str, Any]) -> dict[str, Any]:
        ak, secret, token = self._ak, self._secret, self._token
        if self._source is not None:
            credential = await self._source.get_credential_async()
            ak, secret = credential.access_key_id, credential.access_key_secret
            token = credential.security_token
        query, headers = prepare(self._host, action, version, params, ak, secret, token)
        async with self._http.stream("POST", "/", params=query, headers=headers) as response:
            return parse(response.status_code, await aread_answer(response, self._timeout))
