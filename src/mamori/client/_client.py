"""The synchronous client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from mamori.client._base import (
    KMS,
    RAM,
    STS,
    MamoriError,
    Protocol_,
    base_url,
    parse,
    prepare,
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
    ) -> None:
        self._host = endpoint
        self._ak = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self._http = httpx.Client(
            base_url=base_url(endpoint, protocol, ca_file), verify=verify(ca_file), timeout=timeout
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action``; parameters are sent as strings (booleans as ``true``/``false``)."""
        query, headers = prepare(
            self._host, action, version, params, self._ak, self._secret, self._token
        )
        response = self._http.post("/", params=query, headers=headers)
        return parse(response.status_code, response.content)
