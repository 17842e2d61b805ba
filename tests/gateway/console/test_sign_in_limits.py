"""Sign-in cannot be used to push other people out, or to guess: the session table is shared
fairly, and failed sign-ins are limited per address and per AccessKey id. Against real servers,
through the console's HTTP interface."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest
from alibabacloud_ram20150501.client import Client as RamClient

from mamori.client import Client
from mamori.client._base import RAM
from mamori.gateway.console.sessions import MAX_SESSIONS, MAX_SESSIONS_PER_KEY
from tests.conftest import ServerProcess, free_port
from tests.gateway.console.conftest import (
    Identity,
    https_client,
    post_sign_in,
    ram_user,
    sign_in,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def own_server(tmp_path: object) -> Iterator[ServerProcess]:
    """A console server of this test's own (it fills the session table, or locks sign-in)."""
    from pathlib import Path

    tmp = Path(str(tmp_path))
    proc = ServerProcess(
        "sqlite", tmp / "data", f"sqlite:///{tmp / 'data' / 'mamori.db'}", free_port(), free_port()
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _from(server: ServerProcess, address: str) -> httpx.Client:
    """A client of the console whose connections come from ``address`` (any 127.x works)."""
    verify = ssl.create_default_context(cafile=str(server.ca_file))
    return https_client(server, transport=httpx.HTTPTransport(local_address=address, verify=verify))


def test_an_access_key_cannot_sign_the_administrator_out(
    console_server: ServerProcess, admin: Identity, admin_ram: RamClient
) -> None:
    admin_client, _ = sign_in(console_server, admin)
    nobody = ram_user(admin_ram)  # a RAM user with no policy at all
    attacker = https_client(console_server)
    cookies: list[str] = []
    try:
        for _ in range(MAX_SESSIONS + 1):
            attacker.cookies.clear()
            answer = post_sign_in(attacker, nobody.access_key_id, nobody.secret)
            assert answer.status_code == 303, answer.text
            cookies.append(attacker.cookies["mamori_console"])
        # The administrator is still signed in.
        page = admin_client.get("/console/keys")
        assert page.status_code == 200
        # The attacker's own oldest sessions made room for its newest.
        alive = []
        for cookie in (cookies[0], cookies[-MAX_SESSIONS_PER_KEY - 1], *cookies[-3:]):
            attacker.cookies.clear()
            attacker.cookies.set("mamori_console", cookie, path="/console")
            alive.append(attacker.get("/console/keys").status_code)
        # 303: back to sign-in (ended); 403: signed in, but this user may not ListKeys.
        assert alive == [303, 303, 403, 403, 403]
    finally:
        admin_client.close()
        attacker.close()


def test_a_full_table_refuses_new_sign_ins_and_keeps_everyone_signed_in(
    own_server: ServerProcess,
) -> None:
    s = own_server
    keys: list[tuple[str, str]] = []
    with Client(s.endpoint, s.access_key_id, s.access_key_secret) as admin_api:
        for n in range(MAX_SESSIONS // MAX_SESSIONS_PER_KEY // 2 + 1):
            admin_api.call("CreateUser", RAM, UserName=f"filler{n}")
            for _ in range(2):
                made = admin_api.call("CreateAccessKey", RAM, UserName=f"filler{n}")["AccessKey"]
                keys.append((made["AccessKeyId"], made["AccessKeySecret"]))
    first = https_client(s)
    assert post_sign_in(first, s.access_key_id, s.access_key_secret).status_code == 303
    client = https_client(s)
    try:
        signed_in = 1
        for ak, secret in keys:
            for _ in range(MAX_SESSIONS_PER_KEY):
                if signed_in == MAX_SESSIONS:
                    break
                client.cookies.clear()
                assert post_sign_in(client, ak, secret).status_code == 303
                signed_in += 1
        client.cookies.clear()
        full = post_sign_in(client, *keys[-1])
        assert full.status_code == 503
        assert "The console has as many sessions as it can keep" in full.text
        assert "mamori_console" not in full.headers.get("set-cookie", "")
        assert first.get("/console/keys").status_code == 200  # nobody was pushed out
    finally:
        first.close()
        client.close()


def test_failed_sign_ins_are_limited_per_address(own_server: ServerProcess) -> None:
    s = own_server
    with _from(s, "127.0.0.2") as guesser:
        for attempt in range(10):
            wrong = post_sign_in(guesser, s.access_key_id, f"guess{attempt:025d}")
            assert wrong.status_code == 401
        for ak, secret in ((s.access_key_id, "x" * 30), (s.access_key_id, s.access_key_secret)):
            limited = post_sign_in(guesser, ak, secret)  # even the right secret: not checked
            assert limited.status_code == 429
            assert "Too many failed sign-ins from your address" in limited.text
            assert 0 < int(limited.headers["retry-after"]) <= 300
            assert "mamori_console" not in limited.headers.get("set-cookie", "")
    with _from(s, "127.0.0.3") as someone_else:
        assert post_sign_in(someone_else, s.access_key_id, s.access_key_secret).status_code == 303


def test_failed_sign_ins_are_limited_per_access_key_id(own_server: ServerProcess) -> None:
    s = own_server
    for n in range(4):  # 20 failures for one id, from four addresses (5 each: none limited)
        with _from(s, f"127.0.1.{n + 1}") as guesser:
            for attempt in range(5):
                answer = post_sign_in(guesser, s.access_key_id, f"guess{attempt:025d}")
                assert answer.status_code == 401
    with _from(s, "127.0.2.1") as fresh:
        limited = post_sign_in(fresh, s.access_key_id, s.access_key_secret)
        assert limited.status_code == 429
        assert "Too many failed sign-ins with this AccessKey ID" in limited.text
        # The address is not limited: another AccessKey id signs in from it.
        unknown = post_sign_in(fresh, "LTAI" + "u" * 20, "y" * 30)
        assert unknown.status_code == 401
