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

The size bound alone lets a client hold a connection forever by sending its head, or its body,
a byte at a time (slowloris): uvicorn's ``timeout_keep_alive`` covers only the idle time between
requests. So a request must be read whole (``on_message_complete``) within ``read_timeout``
seconds of its first byte — of the connection's start, for a connection's first request. One
timer per connection checks that deadline and re-arms itself, so a request costs only the read
of the clock in ``on_message_begin``. At the deadline a request that has had no answer gets
408 and the connection is closed; a connection that never sent a byte is just closed; a
response the application is writing is never cut: the connection closes once it is sent.

Past ``limit_concurrency`` open connections on the listener (or running requests), a request
gets the JSON 503 ``ServiceUnavailableTemporary`` and the connection is closed: uvicorn's own
check answers ``text/plain`` the SDKs cannot read, and counts the asking connection, serving
one fewer than configured. With ``count_partial_heads`` off (the agent), only connections that
have sent a whole request head count (``admitted``): half-sent heads cannot lock callers out,
and the read deadline closes them.

Each response's head leaves in one write with its first body chunk (``JoinedWritesProtocol``,
``mamori/http/joined.py``): ``self.transport`` is its ``ConnectionWriter``, so these refusals
follow any head it still holds.

Used by the server's listeners (``mamori.app``) and by ``mamori agent``; it imports nothing of
Mamori but ``mamori.http``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar

import httptools

from mamori.http.joined import JoinedWritesProtocol


class Refusal(Exception):
    """Answer with ``status`` and close (raised inside parser callbacks too)."""

    status = HTTPStatus.BAD_REQUEST


class HeadTooLarge(Refusal):
    """The request line and headers went over the limit."""

    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class OverCapacity(Refusal):
    """The listener already serves as many connections or requests as it may."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class BoundedHttpToolsProtocol(JoinedWritesProtocol):
    """uvicorn's httptools protocol with a bounded request head, a deadline for reading each
    request, and a JSON 503 past its connection limit (configure via ``bounded``)."""

    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    read_timeout: float = 20.0
    refusal_body: Callable[[int], bytes] = staticmethod(lambda status: b"")
    # False: only connections that sent a whole head count toward the limit (``admitted``).
    count_partial_heads: bool = True
    # The listener's connections that have sent a whole request head (one set per ``bounded``
    # class, so per listener); kept only when ``count_partial_heads`` is off.
    admitted: ClassVar[set[BoundedHttpToolsProtocol]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0
        # When the request being read began (loop time); None while none is being read.
        self._reading_since: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        # Checked in on_headers_complete instead of by uvicorn (see the module's docstring).
        self._max_connections = self.limit_concurrency
        self.limit_concurrency = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._reading_since = now = self.loop.time()
        self._read_timer = self.loop.call_at(now + self.read_timeout, self._read_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self.admitted.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self._feed(data)
        except Refusal as exc:
            self._refuse(exc.status)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Refusal):
                self._refuse(exc.__context__.status)
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

    def on_message_begin(self) -> None:
        if self._reading_since is None:  # a connection's first request counts from its start
            self._reading_since = self.loop.time()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        # Counted here, once per request, rather than per header on the hot path; the byte
        # limit already bounds how many a head can carry (a header takes at least 4 bytes).
        if len(self.headers) > self.max_headers:
            raise HeadTooLarge
        if not self.count_partial_heads:
            self.admitted.add(self)
        limit = self._max_connections
        if limit is not None:
            open_ = len(self.connections) if self.count_partial_heads else len(self.admitted)
            if open_ > limit or len(self.tasks) >= limit:
                raise OverCapacity
        self._head_open = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        self._reading_since = None
        super().on_message_complete()

    def _read_deadline(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        since = self._reading_since
        if since is None or now - since < self.read_timeout:
            start = now if since is None else since
            self._read_timer = self.loop.call_at(start + self.read_timeout, self._read_deadline)
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self._head_open or cycle.response_started:
                # The application is answering (this request, or the one before a pipelined
                # head): never cut a response; the connection closes once it is sent.
                cycle.keep_alive = False
                return
            # The application waits for the rest of the body: tell it the client is gone.
            cycle.disconnected = True
            cycle.message_event.set()
        elif not self._head_open or self._head_bytes == 0:
            # Answered early (a 413 before the whole body), or not one byte of a request sent.
            self.transport.close()
            return
        self._refuse(HTTPStatus.REQUEST_TIMEOUT)

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _refuse(self, status: HTTPStatus) -> None:
        body = self.refusal_body(status)
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "content-type: application/json;charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def bounded(
    max_head_bytes: int,
    max_headers: int,
    read_timeout: float,
    refusal_body: Callable[[int], bytes],
    *,
    count_partial_heads: bool = True,
) -> type[BoundedHttpToolsProtocol]:
    """A ``BoundedHttpToolsProtocol`` class with these limits, for ``uvicorn.Config(http=…)``
    (whose ``limit_concurrency`` it enforces); ``refusal_body`` renders the JSON error body of
    a 408, 431 or 503. Use one class per listener: its ``admitted`` set is the listener's."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_head_bytes": max_head_bytes,
            "max_headers": max_headers,
            "read_timeout": read_timeout,
            "refusal_body": staticmethod(refusal_body),
            "count_partial_heads": count_partial_heads,
            "admitted": set(),
        },
    )
