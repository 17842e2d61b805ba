"""The console's refusals, with a raw HTTP client against a real server: each asserts the exact
status and answer, and that nothing was done."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient

from mamori.gateway.console.headers import CONTENT_SECURITY_POLICY
from tests.conftest import ServerProcess, free_port, sqlite_server
from tests.gateway.console.conftest import (
    SIGNIN_TOKEN,
    Identity,
    https_client,
    post_sign_in,
    ram_user,
    sign_in,
)

pytestmark = pytest.mark.timeout(60)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@pytest.fixture
def admin_session(console_server: ServerProcess, admin: Identity) -> Iterator[tuple[Any, str]]:
    client, csrf = sign_in(console_server, admin)
    yield client, csrf
    client.close()


def _descriptions(admin_kms: Any) -> set[str]:
    keys = admin_kms.list_keys(km.ListKeysRequest(page_size=100)).body.keys.key
    return {
        admin_kms.describe_key(km.DescribeKeyRequest(key_id=k.key_id)).body.key_metadata.description
        for k in keys
    }


def test_the_policy_is_strict() -> None:
    assert CONTENT_SECURITY_POLICY == CSP


def test_every_kind_of_answer_carries_the_security_headers(
    console_server: ServerProcess, admin_session: tuple[Any, str]
) -> None:
    client, _ = admin_session
    anonymous = https_client(console_server)
    answers = [
        anonymous.get("/console/sign-in"),
        anonymous.get("/console/keys"),  # redirect to sign-in
        anonymous.get("/console/static/htmx.min.js"),
        client.get("/console/keys"),
        client.get("/console/ram/users/nobody-at-all"),  # the API's EntityNotExist.User
        client.get("/console/no-such-page"),
    ]
    anonymous.close()
    assert [a.status_code for a in answers] == [200, 303, 200, 200, 404, 404]
    for answer in answers:
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
    assert answers[2].headers["content-type"] == "text/javascript; charset=utf-8"
    assert answers[3].headers["cache-control"] == "no-store"
    assert "EntityNotExist.User" in answers[4].text


def test_sign_in_sets_a_strict_session_cookie_and_keeps_no_secret(
    console_server: ServerProcess, admin: Identity
) -> None:
    with https_client(console_server) as client:
        answer = post_sign_in(client, admin.access_key_id, admin.secret)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/keys"
    cookie, spent = answer.headers.get_list("set-cookie")
    assert re.fullmatch(
        r"mamori_console=[A-Za-z0-9_-]{43}; Path=/console; Max-Age=28800; HttpOnly; "
        r"SameSite=Strict; Secure",
        cookie,
    ), cookie
    assert (
        spent
        == "mamori_signin=; Path=/console/sign-in; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    )
    assert admin.secret not in cookie


@pytest.mark.parametrize("which", ["wrong secret", "unknown id"])
def test_a_wrong_access_key_gets_one_answer_and_no_cookie(
    console_server: ServerProcess, admin: Identity, which: str
) -> None:
    ak = admin.access_key_id if which == "wrong secret" else "LTAI" + "x" * 20
    with https_client(console_server) as client:
        answer = post_sign_in(client, ak, "y" * 30)
    assert answer.status_code == 401
    assert "That AccessKey ID and secret do not sign in: wrong, or not Active." in answer.text
    assert "mamori_console" not in answer.headers["set-cookie"]  # only a new sign-in token


def test_a_forged_csrf_token_is_refused_and_nothing_is_done(
    admin_session: tuple[Any, str], admin_kms: Any
) -> None:
    client, csrf = admin_session
    forged = csrf[:-4] + ("AAAA" if not csrf.endswith("AAAA") else "BBBB")
    for token in (forged, ""):
        data = {"KeySpec": "Aliyun_AES_256", "Description": "forged-csrf"}
        if token:
            data["csrf"] = token
        answer = client.post("/console/keys", data=data)
        assert answer.status_code == 403
        assert "The form&#39;s CSRF token is not this session&#39;s." in answer.text
    assert "forged-csrf" not in _descriptions(admin_kms)


def test_a_request_without_the_cookie_is_refused(
    console_server: ServerProcess, admin_session: tuple[Any, str], admin_kms: Any
) -> None:
    _, csrf = admin_session  # a real token, but no session cookie to go with it
    with https_client(console_server) as anonymous:
        posted = anonymous.post("/console/keys", data={"csrf": csrf, "Description": "no-cookie"})
        fetched = anonymous.get("/console/keys")
    assert posted.status_code == 401
    assert "Sign in first: this request carries no live session." in posted.text
    assert fetched.status_code == 303
    assert fetched.headers["location"] == "/console/sign-in"
    assert "no-cookie" not in _descriptions(admin_kms)


def test_a_cross_site_post_is_refused_even_with_a_valid_token(
    admin_session: tuple[Any, str], console_server: ServerProcess
) -> None:
    client, csrf = admin_session
    data = {"csrf": csrf, "Description": "cross-site"}
    other = client.post("/console/keys", data=data, headers={"Origin": "https://evil.example"})
    fetch = client.post("/console/keys", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert other.status_code == 403 and "Cross-origin form posts are refused." in other.text
    assert fetch.status_code == 403 and "Cross-site form posts are refused." in fetch.text


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        ("csrf=a&csrf=b", "application/x-www-form-urlencoded", 400, "given twice"),
        ("x=" + "a" * 70_000, "application/x-www-form-urlencoded", 413, "larger than 65536"),
        ('{"csrf": "a"}', "application/json", 415, "application/x-www-form-urlencoded"),
        (
            "&".join(f"f{i}=1" for i in range(65)),
            "application/x-www-form-urlencoded",
            400,
            "Too many fields",
        ),
    ],
)
def test_malformed_forms_are_refused_before_any_view(
    admin_session: tuple[Any, str], body: str, content_type: str, status: int, reason: str
) -> None:
    client, _ = admin_session
    answer = client.post(
        "/console/keys", content=body.encode(), headers={"Content-Type": content_type}
    )
    assert answer.status_code == status
    assert reason in answer.text


def test_sign_out_ends_the_session_for_good(console_server: ServerProcess, admin: Identity) -> None:
    client, csrf = sign_in(console_server, admin)
    cookie = client.cookies["mamori_console"]
    out = client.post("/console/sign-out", data={"csrf": csrf})
    client.close()
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert "Max-Age=0" in out.headers["set-cookie"]
    with https_client(console_server) as replay:
        replay.cookies.set("mamori_console", cookie, path="/console")
        assert replay.get("/console/keys").status_code == 303
        assert replay.post("/console/keys", data={"csrf": csrf}).status_code == 401


@pytest.mark.parametrize("change", ["Inactive", "deleted"])
def test_disabling_or_deleting_the_access_key_ends_its_sessions(
    console_server: ServerProcess, admin_ram: RamClient, change: str
) -> None:
    user = ram_user(admin_ram, "AliyunKMSReadOnlyAccess")
    client, _ = sign_in(console_server, user)
    try:
        assert client.get("/console/keys").status_code == 200
        if change == "Inactive":
            admin_ram.update_access_key(
                rm.UpdateAccessKeyRequest(
                    user_name=user.name, user_access_key_id=user.access_key_id, status="Inactive"
                )
            )
        else:
            admin_ram.delete_access_key(
                rm.DeleteAccessKeyRequest(
                    user_name=user.name, user_access_key_id=user.access_key_id
                )
            )
        answer = client.get("/console/keys")
        assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
    finally:
        client.close()


def test_output_is_escaped(admin_session: tuple[Any, str], admin_kms: Any) -> None:
    client, _ = admin_session
    hostile = '<script src="https://evil.example/x.js"></script>'
    key_id = admin_kms.create_key(km.CreateKeyRequest(description=hostile)).body.key_metadata.key_id
    page = client.get(f"/console/keys/{key_id}").text
    assert hostile not in page
    assert "&lt;script src=&#34;https://evil.example/x.js&#34;&gt;&lt;/script&gt;" in page


def test_plain_http_has_no_console_unless_the_operator_allows_it(
    console_server: ServerProcess, tmp_path: Any, admin: Identity
) -> None:
    off = httpx.get(f"http://{console_server.endpoint}/console/sign-in")
    assert off.status_code == 404
    assert off.text.startswith("The console is not served on this listener")

    allowed = sqlite_server(tmp_path, env={"MAMORI_CONSOLE_HTTP": "true"})
    allowed.start()
    try:
        base = f"http://{allowed.endpoint}"
        with httpx.Client(base_url=base, headers={"Origin": base}) as client:
            answer = post_sign_in(client, allowed.access_key_id, allowed.access_key_secret)
            assert answer.status_code == 303
            # No Secure attribute (it would never be sent back over HTTP), and no HSTS.
            assert answer.headers["set-cookie"].endswith("HttpOnly; SameSite=Strict")
            assert "strict-transport-security" not in answer.headers
            assert client.get("/console/keys").status_code == 200
    finally:
        allowed.stop()


def test_a_sign_in_post_needs_the_token_of_its_own_pre_session_cookie(
    console_server: ServerProcess, admin: Identity
) -> None:
    credentials = {"access_key_id": admin.access_key_id, "access_key_secret": admin.secret}
    with https_client(console_server) as client:
        bare = client.post("/console/sign-in", data=credentials)  # no form fetched: no token
        form = client.get("/console/sign-in")
        token = SIGNIN_TOKEN.search(form.text)
        assert token is not None
        cookie = form.headers["set-cookie"]
        assert re.fullmatch(
            r"mamori_signin=([A-Za-z0-9_-]{43}); Path=/console/sign-in; Max-Age=600; HttpOnly; "
            r"SameSite=Strict; Secure",
            cookie,
        ), cookie
        assert cookie.split(";")[0] == f"mamori_signin={token.group(1)}"
        forged = client.post("/console/sign-in", data={**credentials, "signin_token": "A" * 43})
    with https_client(console_server) as other_browser:  # a token without its cookie
        stolen = other_browser.post(
            "/console/sign-in", data={**credentials, "signin_token": token.group(1)}
        )
    for answer in (bare, forged, stolen):
        assert answer.status_code == 403
        assert "This sign-in form has expired or did not come from this console" in answer.text
        assert "mamori_console" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Form posts must come from the console&#39;s own pages"),
        ({"Origin": "null"}, "Cross-origin form posts are refused."),
        ({"Origin": "https://evil.example"}, "Cross-origin form posts are refused."),
        ({"Sec-Fetch-Site": "none"}, "Cross-site form posts are refused."),
        ({"Sec-Fetch-Site": "same-site"}, "Cross-site form posts are refused."),
    ],
)
def test_a_post_that_does_not_show_it_comes_from_the_console_is_refused(
    console_server: ServerProcess, admin_session: tuple[Any, str], admin_kms: Any,
    headers: dict[str, str], reason: str,
) -> None:  # fmt: skip
    client, csrf = admin_session
    description = f"no-origin-{len(headers)}-{abs(hash(str(headers)))}"
    with httpx.Client(
        base_url=f"https://{console_server.tls_endpoint}",
        verify=ssl.create_default_context(cafile=str(console_server.ca_file)),
        cookies=client.cookies,
        headers=headers,
    ) as bare:
        answer = bare.post("/console/keys", data={"csrf": csrf, "Description": description})
    assert answer.status_code == 403
    assert reason in answer.text
    assert description not in _descriptions(admin_kms)
    # With the console's own Origin, or Sec-Fetch-Site: same-origin, the same post is served.
    fine = client.post("/console/keys", data={"csrf": csrf, "Description": description})
    assert fine.status_code == 303


def test_a_tossed_session_cookie_does_not_shadow_the_victims(
    console_server: ServerProcess, admin: Identity, crypto_user: Identity
) -> None:
    # Cookie tossing: a sibling host (or a script on one) sets the attacker's session cookie
    # for a longer path, so browsers send it before the victim's own. First-wins would run the
    # victim's edits as the attacker; two session cookies are ambiguous and sign nobody in.
    attacker, _ = sign_in(console_server, crypto_user)
    victim, _ = sign_in(console_server, admin)
    tossed = attacker.cookies.get("mamori_console")
    own = victim.cookies.get("mamori_console")
    assert tossed and own
    with https_client(console_server) as browser:
        both = {"cookie": f"mamori_console={tossed}; mamori_console={own}"}
        fetched = browser.get("/console/keys", headers=both)
    assert fetched.status_code == 303
    assert fetched.headers["location"] == "/console/sign-in"
    attacker.close()
    victim.close()


def test_a_new_access_keys_secret_is_nowhere_but_its_answer(
    console_server: ServerProcess, admin_session: tuple[Any, str], admin_ram: RamClient
) -> None:
    client, csrf = admin_session
    user = f"console-once-{free_port()}"
    admin_ram.create_user(rm.CreateUserRequest(user_name=user))
    made = client.post(f"/console/ram/users/{user}/access-keys", data={"csrf": csrf})
    secret = re.search(r'id="new-access-key-secret">([^<]+)<', made.text)
    assert made.status_code == 200 and secret is not None, made.text
    assert made.headers["cache-control"] == "no-store"
    assert "location" not in made.headers and "set-cookie" not in made.headers
    after = client.get(f"/console/ram/users/{user}")
    assert secret.group(1) not in after.text
    stored = [p for p in console_server.data_dir.rglob("*") if p.is_file()]
    stored.append(console_server.log_path)
    leaked = [p for p in stored if secret.group(1).encode() in p.read_bytes()]
    assert not leaked


@pytest.mark.parametrize("odd", ["LTAI\x00x", "LTAI x", "LTAI/../x", "LTAI\u00e9"])
def test_an_odd_access_key_id_gets_the_one_wrong_answer_on_every_store(
    server: ServerProcess, odd: str
) -> None:
    # The API gateway refuses such ids before any lookup (PostgreSQL fails on a NUL); the
    # console's sign-in must too, with the answer every wrong AccessKey gets.
    with https_client(server) as client:
        answer = post_sign_in(client, odd, "whatever")
    assert answer.status_code == 401, answer.text
    assert "That AccessKey ID and secret do not sign in" in answer.text
