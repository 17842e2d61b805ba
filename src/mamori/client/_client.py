"""The synchronous client."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from mamori.client._signing import sign

KMS = "2016-01-20"
RAM = "2015-05-01"
STS = "2015-04-01"


class MamoriError(Exception):
    """The server refused a call: its error code, message, HTTP status and request id."""

    def __init__(self, code: str, message: str, status: int, request_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id


class Client:
    """Calls actions of a Mamori server with an AccessKey."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        *,
        ca_file: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        scheme = "https" if ca_file else "http"
        self._host = endpoint
        self._ak = access_key_id
        self._secret = access_key_secret
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self._http = httpx.Client(base_url=f"{scheme}://{endpoint}", verify=verify, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action``; parameters are sent as strings (booleans as ``true``/``false``)."""
        query = {k: _wire(v) for k, v in params.items() if v is not None}
        headers = sign(
            host=self._host,
            action=action,
            version=version,
            query=query,
            access_key_id=self._ak,
            secret=self._secret,
        )
        response = self._http.post("/", params=query, headers=headers)
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise MamoriError(
                "InvalidResponse", response.text[:200], response.status_code, ""
            ) from exc
        if response.status_code >= 400:
            raise MamoriError(
                str(body.get("Code", "")),
                str(body.get("Message", "")),
                response.status_code,
                str(body.get("RequestId", "")),
            )
        return body


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
