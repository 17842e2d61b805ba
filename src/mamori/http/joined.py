"""A response's head and its first body chunk leave in one write.

uvicorn's httptools protocol writes a response's status line and headers (``http.response.start``)
with one ``transport.write`` and each body chunk with another, so every response costs two
``send`` syscalls, two TCP segments (TCP_NODELAY), and two reads by the client; over TLS, two
records. Mamori's apps all send the start and the whole body back to back.

So the protocol and its request cycles write through a ``ConnectionWriter`` (the protocol's
``transport`` once the connection is made; uvicorn's ``FlowControl`` keeps the real one). It
holds a response's head, and the next write on the connection goes out as head + data in one
``transport.write``. A held head is never lost, late or out of order, because every write,
close and abort of the connection passes through the writer:

- the next write joins it, whoever makes it: the body, or the protocol's own answers
  (``limits.py``'s 408/431/503, uvicorn's 400), so bytes leave in the order uvicorn wrote them;
- ``close`` and ``write_eof`` write it first (``Connection: close``, a failed app);
- otherwise it goes out on its own at the event loop's next turn (``call_soon``): a HEAD
  response (uvicorn writes no body for it), an app that awaits between its start and its body.
  A pipelined request's cycle starts later than that (its task is scheduled after the flush);
- it is dropped only with ``abort`` or when the connection is lost, as the transport drops
  what it has not sent; so is any write after the loss (uvloop would raise instead).

Which write is a head: the first write after the current cycle's response started. uvicorn sets
``response_started`` in ``send`` just before it writes the head; ``receive``'s ``100 Continue``
comes before it and passes at once. ``self.cycle`` is the latest parsed request, so while a
pipelined request waits, the answering cycle's head is written unjoined: never wrong, just
not joined. Flow control is unchanged: the real transport calls ``pause_writing`` and
``resume_writing`` on the protocol; a held head is a few hundred bytes for one loop turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, each response's head written with its first body chunk."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.transport = ConnectionWriter(self, self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        transport = self.transport
        if isinstance(transport, ConnectionWriter):
            transport.held_head = None  # the peer is gone; the transport refuses writes now
        super().connection_lost(exc)


class ConnectionWriter(asyncio.Transport):
    """A connection's transport as its protocol and request cycles see it (see the module's
    docstring): a response's head is held until the next write; the rest is delegated."""

    __slots__ = ("_headed", "_protocol", "_transport", "held_head")

    def __init__(self, protocol: HttpToolsProtocol, transport: asyncio.Transport) -> None:
        # No super().__init__(): its ``extra`` dict would go unused (get_extra_info delegates).
        self._protocol = protocol
        self._transport = transport
        self.held_head: bytes | None = None
        # The cycle whose head was last held: the next write of that cycle is a body chunk.
        self._headed: RequestResponseCycle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self.held_head
        if head is not None:
            self.held_head = None
            self._send(head + data)
            return
        cycle = self._protocol.cycle
        if cycle is not None and cycle.response_started and cycle is not self._headed:
            self._headed = cycle
            self.held_head = bytes(data)  # uvicorn writes bytes: no copy
            self._protocol.loop.call_soon(self.flush)
        else:
            self._send(data)

    def flush(self) -> None:
        """Write the held head, if any, on its own."""
        head = self.held_head
        if head is not None:
            self.held_head = None
            self._send(head)

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._transport.write(data)
        except RuntimeError:
            # uvloop raises on a write to a closed connection, where asyncio's transports drop
            # it. uvicorn's guard (``disconnected``) is set only on the connection's latest
            # cycle, so the answer of an earlier pipelined request still being served reached
            # here after the peer left: an ASGI traceback in the log per such connection, for
            # anyone who pipelines unsigned requests and hangs up. The peer is gone: drop it.
            if not self._transport.is_closing():
                raise

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self.held_head = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()
