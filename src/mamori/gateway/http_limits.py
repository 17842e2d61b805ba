"""A bounded request head for uvicorn's httptools protocol.

httptools (llhttp) has no limit of its own on the request line or the headers: its Python
wrapper concatenates a header's pieces until the header ends, so one request with a 128 MiB
header costs that memory and quadratic copying before the application sees anything. h11 has
``h11_max_incomplete_event_size`` but parses in pure Python, which the hot path cannot afford.

So the bytes are counted before the parser sees them. While a request head is open (from the
end of the previous request until ``on_headers_complete``), data is fed in pieces that never
exceed what the head may still use; when the head has used all of ``max_head_bytes`` without
ending, the connection is answered 431 and closed. Outside a head, data is fed in pieces of
``max_head_bytes`` too, so a pipelined request whose head starts inside a piece can have at
most one piece (< ``max_head_bytes``) uncounted: no head is ever parsed beyond twice the limit.
The common case (a chunk smaller than the room left) is one comparison and one addition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class HeadTooLarge(Exception):
    """The request line and headers went over the limit (raised inside parser callbacks too)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (configure via ``bounded``)."""

    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    refusal_body: Callable[[], bytes] = staticmethod(lambda: b"")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self._feed(data)
        except HeadTooLarge:
            self._refuse()
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse()
            else:
                self._invalid()
        except httptools.HttpParserError:
            self._invalid()
        except httptools.HttpParserUpgrade:
            # As uvicorn does; Mamori serves no upgrades, so this only logs a warning.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _feed(self, data: bytes) -> None:
        limit = self.max_head_bytes
        feed = self.parser.feed_data
        size = len(data)
        if self._head_open and size <= limit - self._head_bytes:
            # The common case: the whole chunk fits in what the head may still use.
            self._head_bytes += size
            feed(data)
            if self._head_open and self._head_bytes >= limit:
                raise HeadTooLarge
            return
        view = memoryview(data)
        start = 0
        while start < size:
            if self._head_open:
                end = min(size, start + limit - self._head_bytes)
                self._head_bytes += end - start
            else:
                end = min(size, start + limit)
            feed(view[start:end])
            if self._head_open and self._head_bytes >= limit:
                raise HeadTooLarge
            start = end

    def on_headers_complete(self) -> None:
        # Counted here, once per request, rather than per header on the hot path; the byte
        # limit already bounds how many a head can carry (a header takes at least 4 bytes).
        if len(self.headers) > self.max_headers:
            raise HeadTooLarge
        self._head_open = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        super().on_message_complete()

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse(self) -> None:
        body = self.refusal_body()
        head = (
            f"HTTP/1.1 {_STATUS.value} {_STATUS.phrase}\r\n"
            "content-type: application/json;charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def bounded(
    max_head_bytes: int, max_headers: int, refusal_body: Callable[[], bytes]
) -> type[asyncio.Protocol]:
    """A ``BoundedHttpToolsProtocol`` class with these limits, for ``uvicorn.Config(http=…)``;
    ``refusal_body`` renders the JSON error body of a 431."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_head_bytes": max_head_bytes,
            "max_headers": max_headers,
            "refusal_body": staticmethod(refusal_body),
        },
    )
