"""What every Mamori gateway does with ASGI the same way: the types, and reading a bounded body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

ASGIScope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ClientGone(Exception):
    """The connection ended before the request's body did: nothing is to be answered."""


async def read_body(
    scope: ASGIScope, receive: Receive, max_bytes: int, too_large: Callable[[], Exception]
) -> bytes:
    """The whole request body, refused with ``too_large()`` past ``max_bytes`` (at once when
    Content-Length says so, else as soon as the bytes say so)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            if message["type"] == "http.disconnect":
                # The client left, or the read deadline cut it off (mamori/http/limits.py):
                # what arrived of the body is not a request.
                raise ClientGone
            return b"".join(chunks)
