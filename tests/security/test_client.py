"""Attacks on ``mamori.client`` by the server end of a connection: an endpoint whose
certificate the CA file vouches for (a compromised or misbehaving server, a TLS-terminating
proxy) answering with bodies no KMS sends. The agent reads secrets and data keys through these
clients, so what stalls them stalls it. docs/security.md, "Dedicated gateway and agent", lists
them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mamori.client import AsyncInstanceClient, Client, InstanceClient, MamoriError
from mamori.client._base import MAX_ANSWER_BYTES
from mamori.crypto.client_key import (
    LoadedClientKey,
    issue_client_key,
    load_client_key_content,
    new_key_id,
)
from mamori.gateway.tls import ensure_tls
from mamori.wire import instance as api

Answer = Callable[[ssl.SSLSocket], None]
TIMEOUT = 1.5


def _huge_declared(sock: ssl.SSLSocket) -> None:
    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 500000000\r\n\r\n")
    for _ in range(500):
        sock.sendall(b"\0" * 1024 * 1024)


def _huge_chunked(sock: ssl.SSLSocket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"\0" * 1024 * 1024
    for _ in range(500):
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def _drip(sock: ssl.SSLSocket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(120):  # one byte every 0.25 s: each read is quick, the answer never ends
        sock.sendall(b"1\r\n\0\r\n")
        time.sleep(0.25)


@contextlib.contextmanager
def hostile(tmp_path: Path, answer: Answer) -> Iterator[tuple[str, Path]]:
    """A TLS endpoint on loopback with a certificate its own CA file vouches for, answering
    every request with ``answer``; (endpoint, CA file)."""
    files = ensure_tls(tmp_path / "hostile-tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert_file, files.key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def one(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            answer(tls)

    def serve() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    assert files.ca_file is not None
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", files.ca_file
    finally:
        done.set()
        listener.close()


@pytest.fixture(scope="module")
def client_key() -> LoadedClientKey:
    now = datetime.now(UTC)
    issued = issue_client_key(
        new_key_id(), "Hostile-1", now - timedelta(days=1), now + timedelta(days=1)
    )
    return load_client_key_content(issued.content, "Hostile-1")


ANSWERS = {"huge-declared": _huge_declared, "huge-chunked": _huge_chunked, "drip": _drip}


def _refused_quickly(call: Callable[[], object]) -> BaseException:
    started = time.monotonic()
    with pytest.raises((MamoriError, httpx.TimeoutException)) as caught:
        call()
    elapsed = time.monotonic() - started
    # The read deadline is the client's timeout; a 500 MB answer is not read at all.
    assert elapsed < TIMEOUT + 1.0, elapsed
    return caught.value


def _expected(which: str, error: BaseException) -> None:
    if which == "drip":
        assert isinstance(error, httpx.ReadTimeout), error
    else:
        assert isinstance(error, MamoriError), error
        assert error.code == "InvalidResponse"
        assert f"larger than {MAX_ANSWER_BYTES} bytes" in error.message


@pytest.mark.parametrize("which", list(ANSWERS))
def test_an_endless_or_huge_answer_is_cut_off(
    tmp_path: Path, client_key: LoadedClientKey, which: str
) -> None:
    """A 500 MB answer grew the client (and the agent) by 1 GB before failing, and one byte
    every 0.25 s held a call for ever (each read was within the timeout): an answer is now
    read to ``MAX_ANSWER_BYTES`` and within the client's timeout, by every client."""
    with hostile(tmp_path, ANSWERS[which]) as (endpoint, ca_file):
        with InstanceClient(endpoint, client_key, ca_file=ca_file, timeout=TIMEOUT) as kms:
            _expected(which, _refused_quickly(lambda: kms.call(api.GENERATE_RANDOM, Length=8)))

        async def from_async() -> None:
            async with AsyncInstanceClient(
                endpoint, client_key, ca_file=ca_file, timeout=TIMEOUT
            ) as kms:
                await kms.call(api.GENERATE_RANDOM, Length=8)

        _expected(which, _refused_quickly(lambda: asyncio.run(from_async())))
        with Client(
            endpoint, "LTAIhostile", "secret", protocol="https", ca_file=ca_file, timeout=TIMEOUT
        ) as shared:
            _expected(which, _refused_quickly(lambda: shared.call("GenerateRandom")))
