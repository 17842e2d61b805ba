"""The console behind a TLS-terminating proxy: ``X-Forwarded-Proto`` and ``X-Forwarded-For`` are
honoured from the addresses ``console_trusted_proxies`` names, and from nobody else. A real
server on plain HTTP (``console_http``); the "proxy" is a client connecting from 127.0.0.1, a
stranger one connecting from 127.0.0.2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mamori.client import Client
from mamori.client._base import RAM
from tests.conftest import ServerProcess, sqlite_server
from tests.gateway.console.conftest import SIGNIN_TOKEN

pytestmark = pytest.mark.timeout(120)

PUBLIC = "https://kms.example.com"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("proxied")
    proc = sqlite_server(
        tmp, env={"MAMORI_CONSOLE_HTTP": "true", "MAMORI_CONSOLE_TRUSTED_PROXIES": "127.0.0.1/32"}
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _via(server: ServerProcess, address: str, forwarded_for: str = "203.0.113.7") -> httpx.Client:
    """What a proxy at ``address`` sends on: the browser's Host and Origin, and who and how."""
    return httpx.Client(
        base_url=f"http://{server.endpoint}",
        transport=httpx.HTTPTransport(local_address=address),
        headers={
            "Host": "kms.example.com",
            "Origin": PUBLIC,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": forwarded_for,
        },
        timeout=10,
    )


def post_sign_in(proxy: httpx.Client, access_key_id: str, secret: str) -> httpx.Response:
    """The sign-in form fetched and posted through the proxy. The browser speaks HTTPS to the
    proxy and so sends back the Secure pre-session cookie; httpx, speaking HTTP to the server
    here, would not: the cookie is handed over explicitly."""
    form = proxy.get("/console/sign-in")
    match = SIGNIN_TOKEN.search(form.text)
    assert form.status_code == 200 and match is not None, form.text
    cookie = form.headers["set-cookie"].split(";")[0]
    return proxy.post(
        "/console/sign-in",
        data={"access_key_id": access_key_id, "access_key_secret": secret,
              "signin_token": match.group(1)},
        headers={"Cookie": cookie},
    )  # fmt: skip


def _tls_only_user(server: ServerProcess, tmp: Path) -> tuple[str, str]:
    """A RAM user who may list keys only over TLS (``acs:SecureTransport``)."""
    statement = {
        "Effect": "Allow",
        "Action": ["kms:List*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {"Bool": {"acs:SecureTransport": "true"}},
    }
    document = json.dumps({"Version": "1", "Statement": [statement]})
    name = f"tls{tmp.name[-6:]}".replace("_", "")
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as admin:
        admin.call("CreateUser", RAM, UserName=name)
        admin.call("CreatePolicy", RAM, PolicyName=name, PolicyDocument=document)
        admin.call("AttachPolicyToUser", RAM, PolicyName=name, PolicyType="Custom", UserName=name)
        key = admin.call("CreateAccessKey", RAM, UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["AccessKeySecret"]


def test_a_trusted_proxys_forwarded_proto_makes_the_console_secure(
    proxied: ServerProcess, tmp_path: Path
) -> None:
    ak, secret = _tls_only_user(proxied, tmp_path)
    with _via(proxied, "127.0.0.1") as browser:
        signed_in = post_sign_in(browser, ak, secret)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers.get_list("set-cookie")[0].endswith(
            "HttpOnly; SameSite=Strict; Secure"
        )
        assert signed_in.headers["strict-transport-security"] == "max-age=31536000"
        session = signed_in.headers["set-cookie"].split(";")[0]
        keys = browser.get("/console/keys", headers={"Cookie": session})
        assert keys.status_code == 200, keys.text  # acs:SecureTransport is true


def test_anybody_elses_forwarded_headers_are_ignored(proxied: ServerProcess) -> None:
    with _via(proxied, "127.0.0.2") as stranger:
        # Origin https://… does not match a console served over plain HTTP.
        refused = post_sign_in(stranger, proxied.access_key_id, proxied.access_key_secret)
        assert refused.status_code == 403
        assert "Cross-origin form posts are refused." in refused.text
        form = stranger.get("/console/sign-in")
        assert "strict-transport-security" not in form.headers
        assert not form.headers["set-cookie"].endswith("Secure")


def test_failed_sign_ins_count_against_the_forwarded_address(proxied: ServerProcess) -> None:
    for _ in range(10):
        with _via(proxied, "127.0.0.1", forwarded_for="198.51.100.1, 203.0.113.66") as guesser:
            wrong = post_sign_in(guesser, "LTAI" + "g" * 20, "x" * 30)
            assert wrong.status_code == 401
    with _via(proxied, "127.0.0.1", forwarded_for="203.0.113.66") as guesser:
        assert post_sign_in(guesser, "LTAI" + "h" * 20, "x" * 30).status_code == 429
    # Everyone else behind the same proxy still signs in.
    with _via(proxied, "127.0.0.1", forwarded_for="203.0.113.67") as someone:
        answer = post_sign_in(someone, proxied.access_key_id, proxied.access_key_secret)
        assert answer.status_code == 303
