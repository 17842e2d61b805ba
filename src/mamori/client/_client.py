"""The synchronous client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from mamori.client._base import (
    KMS,
    RAM,
    STS,
    MamoriError,
    Protocol_,
    Retry,
    base_url,
    parse,
    prepare,
    read_answer,
    throttled,
    verify,
)

__all__ = ["KMS", "RAM", "STS", "Client", "MamoriError"]


class Client:
    """Calls actions of a Mamori server with an AccessKey (and an STS token, if temporary)."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        *,
        security_token: str | None = None,
        protocol: Protocol_ | None = None,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        retry: Retry = Retry(),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._host = endpoint
        self._ak = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self._retry = retry
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=base_url(endpoint, protocol, ca_file),
            verify=verify(ca_file),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action`` with parameters named as in the API reference (sent as strings,
        booleans as ``true``/``false``, None left out); a throttled call is repeated as
        ``retry`` says. Raises ``MamoriError`` for a refusal, ``httpx.TransportError`` when
        the server cannot be reached or does not answer in time."""
        delays = self._retry.delays()
        while True:
            try:
                return self._send(action, version, params)
            except MamoriError as exc:
                delay = next(delays, None) if throttled(exc) else None
                if delay is None:
                    raise
            time.sleep(delay)

    def _send(self, action: str, version: str, params: dict[str, Any]) -> dict[str, Any]:
        # Signed afresh each attempt: a new nonce and date.
        query, headers = prepare(
            self._host, action, version, params, self._ak, self._secret, self._token
        )
        with self._http.stream("POST", "/", params=query, headers=headers) as response:
            return parse(response.status_code, read_answer(response, self._timeout))
