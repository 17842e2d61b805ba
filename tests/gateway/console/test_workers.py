"""The console under several worker processes: the kernel hands each new connection to any
worker, so a session must be known to all of them (sessions live in the store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.gateway.console.conftest import CSRF, Identity, https_client, sign_in


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
