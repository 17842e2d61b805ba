"""A response's head and body leave the server in one write (mamori/http/joined.py).

One write of less than a segment reaches the client as one TCP segment carrying data, so the
client socket's ``tcpi_data_segs_in`` (Linux TCP_INFO) counts the writes of each response
exactly, with no timing involved: uvicorn alone writes the head and the body apart, two
segments. Every app of a real ``mamori server`` is checked: ``/health``, the shared gateway,
the instance API and the console on the TLS listener; then HEAD, pipelining, ``Expect:
100-continue`` and a ``Connection: close`` answer. No Mamori app streams or pauses between its
start and its body, so that case runs on uvicorn with the same protocol class and an ASGI app
of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mamori.http.limits import bounded
from tests.conftest import ServerProcess, free_port

# struct tcp_info (linux/tcp.h): tcpi_data_segs_in is the u32 at byte 152 (Linux 4.6+).
_TCP_INFO_SIZE = 160
_DATA_SEGS_IN = 152


def data_segments_in(sock: socket.socket) -> int:
    """Segments carrying data this socket has received so far."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    if len(info) < _TCP_INFO_SIZE:
        pytest.skip("this kernel's TCP_INFO has no tcpi_data_segs_in")
    return int(struct.unpack_from("I", info, _DATA_SEGS_IN)[0])


class Connection:
    """A client connection that reads whole responses (content-length or chunked)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock  # an SSLSocket answers TCP_INFO too (it took over the TCP socket)
        self.buffer = b""

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"closed after {self.buffer!r}")
        self.buffer += data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._more()
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return int(status_line.split(" ", 2)[1]), fields

    def body(self, fields: dict[str, str]) -> bytes:
        if fields.get("transfer-encoding") != "chunked":
            return self._take(int(fields.get("content-length", "0")))
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._more()
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            chunk = self._take(int(size_line, 16) + 2)[:-2]
            if not chunk:
                return body
            body += chunk

    def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status, fields = self.head()
        return status, fields, b"" if head_only else self.body(fields)

    def counted(self, raw: bytes, *, head_only: bool = False) -> tuple[int, bytes, int]:
        """Send one request; its status, body and the data segments its response took."""
        before = data_segments_in(self.sock)
        self.send(raw)
        status, _, body = self.response(head_only=head_only)
        return status, body, data_segments_in(self.sock) - before


@contextlib.contextmanager
def connect(endpoint: str, *, tls_ca: Path | None = None) -> Iterator[Connection]:
    host, port = endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as tcp:
        if tls_ca is None:
            yield Connection(tcp)
            return
        context = ssl.create_default_context(cafile=str(tls_ca))
        with context.wrap_socket(tcp, server_hostname=host) as sock:
            yield Connection(sock)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own (SQLite: the HTTP layer never touches the store)."""
    tmp = tmp_path_factory.mktemp("mamori-writes")
    url = f"sqlite:///{tmp / 'data' / 'mamori.db'}"
    proc = ServerProcess("sqlite", tmp / "data", url, free_port(), free_port())
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


HEALTH = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
UNSIGNED = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"


def test_each_health_response_is_one_segment(plain: ServerProcess) -> None:
    with connect(plain.endpoint) as conn:
        for _ in range(5):  # keep-alive: every response on the connection, not just the first
            status, body, segments = conn.counted(HEALTH)
            assert (status, segments) == (200, 1), body
            assert b'"Status": "ok"' in body


def test_a_shared_gateway_answer_is_one_segment(plain: ServerProcess) -> None:
    with connect(plain.endpoint) as conn:
        for _ in range(2):
            status, body, segments = conn.counted(UNSIGNED)
            assert (status, segments) == (400, 1), body
            assert b"IncompleteSignature" in body


def test_tls_answers_are_one_segment_each(plain: ServerProcess) -> None:
    # /health, the shared gateway, the instance API (x-kms-apiname), the console.
    instance = (
        b"POST / HTTP/1.1\r\nhost: x\r\nx-kms-apiname: Encrypt\r\n"
        b"content-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
    )
    console = b"GET /console/ HTTP/1.1\r\nhost: x\r\n\r\n"
    with connect(plain.tls_endpoint, tls_ca=plain.ca_file) as conn:
        conn.send(HEALTH)  # after the handshake and its session tickets
        conn.response()
        answers = [conn.counted(raw) for raw in (HEALTH, UNSIGNED, instance, console)]
    statuses = [status for status, _, _ in answers]
    assert statuses[:2] == [200, 400]
    assert 400 <= statuses[2] < 500, answers[2]  # the instance API's protobuf Error
    assert statuses[3] in (200, 302, 303), answers[3]
    for status, body, segments in answers:
        assert segments == 1, (status, body)


def test_a_head_request_gets_its_head_and_the_connection_goes_on(plain: ServerProcess) -> None:
    # uvicorn writes no body for HEAD: the held head goes out when the response completes.
    with connect(plain.endpoint) as conn:
        head = b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n"
        status, body, segments = conn.counted(head, head_only=True)
        assert (status, body, segments) == (403, b"", 1)
        status, body, segments = conn.counted(HEALTH)
        assert (status, segments) == (200, 1), body


def test_pipelined_requests_are_answered_in_order(plain: ServerProcess) -> None:
    head = b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n"
    with connect(plain.endpoint) as conn:
        before = data_segments_in(conn.sock)
        conn.send(HEALTH + head + UNSIGNED + HEALTH)
        answers = [
            conn.response(),
            conn.response(head_only=True),
            conn.response(),
            conn.response(),
        ]
        segments = data_segments_in(conn.sock) - before
    assert [status for status, _, _ in answers] == [200, 403, 400, 200]
    assert b"IncompleteSignature" in answers[2][2]
    assert answers[1][2] == b"" and conn.buffer == b""
    # Only the last is joined (the writer reads the latest request's cycle), but none is split
    # further than uvicorn alone would; the kernel may merge writes too.
    assert segments <= 2 * 4


def test_100_continue_is_sent_before_the_body_is(plain: ServerProcess) -> None:
    body = b"Action=Encrypt"
    raw = (
        b"POST / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        b"content-type: application/x-www-form-urlencoded\r\ncontent-length: %d\r\n\r\n"
    ) % len(body)
    with connect(plain.endpoint) as conn:
        conn.send(raw)
        assert conn.head()[0] == 100  # the interim answer, while the body is still unsent
        status, answer, _ = conn.counted(body)
    assert status == 400 and b"IncompleteSignature" in answer


def test_a_connection_close_answer_is_whole_before_the_close(plain: ServerProcess) -> None:
    with connect(plain.endpoint) as conn:
        raw = b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        status, body, segments = conn.counted(raw)
        assert (status, segments) == (200, 1)
        assert b'"Status": "ok"' in body
        assert conn.sock.recv(1) == b""


def test_the_refusals_of_limits_are_whole(plain: ServerProcess) -> None:
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(101))
    with connect(plain.endpoint) as conn:
        conn.send(HEALTH)
        conn.response()
        status, body, _ = conn.counted(b"GET /health HTTP/1.1\r\nhost: x\r\n" + fields + b"\r\n")
        assert status == 431 and b"RequestHeaderFieldsTooLarge" in body
        assert conn.sock.recv(1) == b""


# -- apps that pause or stream: uvicorn with the same protocol class, the test's own app ------


RELEASE = threading.Event()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        # Chunked (no content-length), paused before its first chunk until the test says so.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while not RELEASE.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"two", "more_body": False})
    elif scope["path"] == "/fail":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("the app fails after its start (expected by the test)")
    else:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def own_app() -> Iterator[str]:
    port = free_port()
    protocol = bounded(16 * 1024, 100, 20.0, lambda status: b"{}")
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=protocol,
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_paused_response_sends_its_head_at_once(own_app: str) -> None:
    RELEASE.clear()
    with connect(own_app) as conn:
        conn.send(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        status, fields = conn.head()  # while the app waits: the head was not held back
        assert (status, fields.get("transfer-encoding")) == (200, "chunked")
        RELEASE.set()
        assert conn.body(fields) == b"onetwo"
        status, body, segments = conn.counted(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (status, body, segments) == (204, b"", 1)


def test_a_failing_app_still_gets_its_head_out_before_the_close(own_app: str) -> None:
    with connect(own_app) as conn:
        conn.send(b"GET /fail HTTP/1.1\r\nhost: x\r\n\r\n")
        assert conn.head()[0] == 200
        assert conn.sock.recv(1) == b""


def test_pipelined_requests_from_a_peer_that_hangs_up_log_no_traceback(
    plain: ServerProcess,
) -> None:
    # uvicorn marks only a connection's latest request as disconnected, so the answer of an
    # earlier pipelined one was written to the closed uvloop transport, which raises: one ASGI
    # traceback in the server log per such connection, for anyone, without signing anything.
    logged = plain.log_path.stat().st_size
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as sock:
            sock.sendall(UNSIGNED * 5)
    time.sleep(1.0)  # the answers in flight are written (or dropped) by now
    with connect(plain.endpoint) as conn:
        status, _, _ = conn.counted(HEALTH)
    assert status == 200
    with plain.log_path.open("rb") as log:
        log.seek(logged)
        tail = log.read().decode("utf-8", "replace")
    assert "Traceback" not in tail, tail[:2000]
    assert "Exception in ASGI application" not in tail
