"""The console under several worker processes: the kernel hands each new connection to any
worker, so a session must be known to all of them (sessions live in the store), and a failed
sign-in counts for all of them (the counts live in the node's shared memory)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mamori.gateway.console.throttle import ADDRESS_LIMIT
from tests.conftest import ServerProcess, free_port
from tests.gateway.console.conftest import CSRF, Identity, https_client, post_sign_in, sign_in


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        "sqlite", tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'mamori.db'}",
        free_port(), free_port(), env={"MAMORI_WORKERS": "2"},
    )  # fmt: skip
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _fresh(server: ServerProcess, cookies: httpx.Cookies) -> httpx.Client:
    """A client that opens a new connection for every request (so any worker may answer)."""
    return https_client(server, cookies=cookies, limits=httpx.Limits(max_keepalive_connections=0))


def test_a_session_is_known_to_every_worker(two_workers: ServerProcess) -> None:
    admin = Identity("root", two_workers.access_key_id, two_workers.access_key_secret)
    signed_in, csrf = sign_in(two_workers, admin)
    with _fresh(two_workers, signed_in.cookies) as client:
        # 24 new connections: with sessions in one worker's memory, about half would be sent
        # back to the sign-in page (the chance that all land on one worker is 2**-23).
        for _ in range(24):
            page = client.get("/console/keys")
            assert page.status_code == 200, page.headers.get("location")
            match = CSRF.search(page.text)
            assert match is not None and match.group(1) == csrf
        made = client.post("/console/keys", data={"csrf": csrf, "description": "any worker"})
        assert made.status_code == 303, made.text
        # Signing out ends the session on every worker at once.
        assert client.post("/console/sign-out", data={"csrf": csrf}).status_code in (200, 303)
        for _ in range(8):
            assert client.get("/console/keys").status_code == 303


def test_failed_sign_ins_are_limited_for_the_node_not_per_worker(
    two_workers: ServerProcess,
) -> None:
    s = two_workers
    # Every request on a new connection from 127.0.0.2, so the kernel spreads them over both
    # workers: with counts kept per worker, the limit of 10 would let about 20 guesses through
    # (the chance that 10 connections all land on one worker is 2**-9).
    transport = httpx.HTTPTransport(
        local_address="127.0.0.2",
        verify=ssl.create_default_context(cafile=str(s.ca_file)),
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    with https_client(s, transport=transport) as guesser:
        for attempt in range(ADDRESS_LIMIT):
            wrong = post_sign_in(guesser, s.access_key_id, f"guess{attempt:025d}")
            assert wrong.status_code == 401, wrong.text
        for _ in range(6):  # even the right secret is not checked now, on either worker
            limited = post_sign_in(guesser, s.access_key_id, s.access_key_secret)
            assert limited.status_code == 429, limited.text
            assert "Too many failed sign-ins from your address" in limited.text
            assert 0 < int(limited.headers["retry-after"]) <= 300
            assert "mamori_console" not in limited.headers.get("set-cookie", "")
    # Another address is not limited.
    admin = Identity("root", s.access_key_id, s.access_key_secret)
    signed_in, _ = sign_in(s, admin)
    signed_in.close()
