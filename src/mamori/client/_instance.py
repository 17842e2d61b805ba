"""The dedicated gateway's transport: the KMS instance API (protobuf bodies, client-key RSA
signatures, HTTPS only), sync and async, with the shared gateway client's retry policy.

    from mamori.client import InstanceClient, load_client_key
    from mamori.wire import instance as api

    key = load_client_key(Path("clientKey_KAAP.x.json"), password)
    with InstanceClient("127.0.0.1:8443", key, ca_file=Path("ca.pem")) as kms:
        sealed = kms.call(api.ENCRYPT, KeyId="alias/app", Plaintext=b"data")
        assert kms.call(api.DECRYPT, KeyId="alias/app", CiphertextBlob=sealed.CiphertextBlob,
                        Iv=sealed.Iv).Plaintext == b"data"

``call`` takes an API of ``mamori.wire.instance`` and the request message's fields (None left
out) and returns the response message (protoc's class). A refusal raises ``MamoriError`` with
the server's code, message, HTTP status and request id; an unreachable server, or one whose
certificate the CA file (or the system's roots) does not vouch for, ``httpx.TransportError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
from google.protobuf.message import DecodeError, Message

from mamori.client._base import (
    MamoriError,
    Retry,
    aread_answer,
    read_answer,
    throttled,
    verify,
)
from mamori.client._client_key import signed_headers
from mamori.crypto.client_key import LoadedClientKey
from mamori.wire import instance_api_pb2 as pb
from mamori.wire.instance import Api, encode

R = TypeVar("R", bound=Message)


def _body(api: Api[Any, Any], fields: dict[str, Any]) -> bytes:
    return encode(api.request(**{k: v for k, v in fields.items() if v is not None}))


def _parse(api: Api[Any, R], status: int, content: bytes) -> R:
    """The response message of a 200; ``MamoriError`` from the ``Error`` message otherwise, or
    ``InvalidResponse`` when the body is not the protobuf it should be."""
    if status == 200:
        try:
            return api.response.FromString(content)
        except DecodeError:
            raise MamoriError(
                "InvalidResponse", f"the answer is not a {api.name} response", status, ""
            ) from None
    try:
        error = pb.Error.FromString(content)
    except DecodeError:
        error = pb.Error()
    if not error.ErrorCode:
        text = content[:200].decode("utf-8", errors="replace")
        raise MamoriError("InvalidResponse", text, status, "")
    raise MamoriError(error.ErrorCode, error.ErrorMessage, status, error.RequestId)


class _Transport:
    """What both clients hold: where to connect, the key, how to retry."""

    def __init__(
        self, endpoint: str, client_key: LoadedClientKey, retry: Retry, timeout: float
    ) -> None:
        self._host = endpoint
        self._timeout = timeout
        self._key_id = client_key.key_id
        self._private_key = client_key.private_key
        self._retry = retry

    @property
    def key_id(self) -> str:
        """The client key's id (``KAAP.…``)."""
        return self._key_id

    def _request(
        self, api: Api[Any, Any], fields: dict[str, Any], headers: Mapping[str, str] | None
    ) -> tuple[bytes, dict[str, str]]:
        body = _body(api, fields)
        # Signed afresh for each attempt: the date is the protocol's only replay bound.
        signed = signed_headers(
            self._host, api.name, body, self._key_id, self._private_key, extra=headers
        )
        return body, signed


class InstanceClient(_Transport):
    """Calls the instance API of a Mamori server (or a KMS instance) with a client key."""

    def __init__(
        self,
        endpoint: str,
        client_key: LoadedClientKey,
        *,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        retry: Retry = Retry(),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(endpoint, client_key, retry, timeout)
        self._http = httpx.Client(
            base_url=f"https://{endpoint}",
            verify=verify(ca_file),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> InstanceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def call(
        self, api: Api[Any, R], /, *, headers: Mapping[str, str] | None = None, **fields: Any
    ) -> R:
        """Call ``api`` with the request message's ``fields``; a throttled call
        (``Rejected.Throttling``) is repeated as ``retry`` says."""
        delays = self._retry.delays()
        while True:
            body, signed = self._request(api, fields, headers)
            try:
                with self._http.stream("POST", "/", content=body, headers=signed) as response:
                    return _parse(api, response.status_code, read_answer(response, self._timeout))
            except MamoriError as exc:
                delay = next(delays, None) if throttled(exc) else None
                if delay is None:
                    raise
            time.sleep(delay)


class AsyncInstanceClient(_Transport):
    """``InstanceClient``'s calls, awaited."""

    def __init__(
        self,
        endpoint: str,
        client_key: LoadedClientKey,
        *,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        max_connections: int = 100,
        retry: Retry = Retry(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(endpoint, client_key, retry, timeout)
        self._http = httpx.AsyncClient(
            base_url=f"https://{endpoint}",
            verify=verify(ca_file),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncInstanceClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()

    async def call(
        self, api: Api[Any, R], /, *, headers: Mapping[str, str] | None = None, **fields: Any
    ) -> R:
        """As ``InstanceClient.call``."""
        delays = self._retry.delays()
        while True:
            body, signed = self._request(api, fields, headers)
            try:
                async with self._http.stream("POST", "/", content=body, headers=signed) as response:
                    content = await aread_answer(response, self._timeout)
                    return _parse(api, response.status_code, content)
            except MamoriError as exc:
                delay = next(delays, None) if throttled(exc) else None
                if delay is None:
                    raise
            await asyncio.sleep(delay)
