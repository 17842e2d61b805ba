"""Issue 9, items 1-5: attacks on request authentication, replayed against a real server.

Each test captures what an official SDK signs (or signs a request the way an attacker would),
tampers with it on the wire, and asserts the exact refusal.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.utils import Utils
from darabonba.runtime import RuntimeOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compat.sdk import b64, new_sdk
from tests.conftest import ServerProcess, free_port
from tests.security.wire import (
    Wire,
    capture,
    resign_acs3,
    resign_acs4,
    send,
    signed_headers_of,
    v1_target,
)

ACS3 = "ACS3"
ACS4 = "ACS4"
CONFIG = {ACS3: {}, ACS4: {"signature_version": "v4"}}
HEADER_LIMIT = 16 * 1024  # the documented default of max_header_bytes


def client(server: ServerProcess, style: str = ACS3, **config: str) -> Client:
    return new_sdk(
        server.endpoint, server.access_key_id, server.access_key_secret, **CONFIG[style], **config
    )


def describe_regions(monkeypatch: pytest.MonkeyPatch, server: ServerProcess, style: str) -> Wire:
    sdk = client(server, style)
    return capture(monkeypatch, sdk.describe_regions)


def put_secret_value(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, style: str = ACS3
) -> Wire:
    """A signed request with a form body (the SDK puts SecretData in the body)."""
    request = km.PutSecretValueRequest(
        secret_name=f"nope-{uuid.uuid4().hex[:8]}", secret_data="d", version_id="v1"
    )
    sdk = client(server, style)
    return capture(monkeypatch, lambda: sdk.put_secret_value(request))


def refused(answer: object, code: str, status: int = 400) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body  # type: ignore[attr-defined]


def test_the_test_signer_reproduces_the_sdk(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess
) -> None:
    ak, secret = server.access_key_id, server.access_key_secret
    wire = put_secret_value(monkeypatch, server)
    again = resign_acs3(wire, ak, secret, parse_qsl(wire.query), signed_headers_of(wire))
    assert again.header("authorization") == wire.header("authorization")
    wire4 = put_secret_value(monkeypatch, server, ACS4)
    again4 = resign_acs4(wire4, ak, secret, "center", "Kms", signed_headers_of(wire4))
    assert again4.header("authorization") == wire4.header("authorization")


# -- 1. the nonce, and every signed header, is used as it was signed ---------------------------


@pytest.mark.parametrize("suffix", [" ", "\t", "\xa0", "\x85"])
@pytest.mark.parametrize("style", [ACS3, ACS4])
def test_a_replay_with_whitespace_after_the_nonce_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, style: str, suffix: str
) -> None:
    wire = describe_regions(monkeypatch, server, style)
    assert send(server.endpoint, wire).status == 200
    nonce = wire.header("x-acs-signature-nonce")
    replayed = wire.with_header("x-acs-signature-nonce", nonce + suffix)
    for _ in range(2):
        refused(send(server.endpoint, replayed), "IncompleteSignature")
    refused(send(server.endpoint, wire), "SignatureNonceUsed")


def test_a_nonce_outside_the_strict_set_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess
) -> None:
    # The SDK signs whatever its nonce source returns: here a nonce with a '/' and a space.
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: f"{uuid.uuid4().hex}/x y"))
    wire = describe_regions(monkeypatch, server, ACS3)
    refused(send(server.endpoint, wire), "IncompleteSignature")


def test_an_sdk_uuid_nonce_is_accepted(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess
) -> None:
    # alibabacloud-credentials and other SDKs send UUIDs with dashes.
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: str(uuid.uuid4())))
    client(server).describe_regions()


@pytest.mark.parametrize("style", [ACS3, ACS4])
def test_a_signed_content_type_with_a_leading_nbsp_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, style: str
) -> None:
    # The signature covers the stripped value; the form parser saw the 0xA0 and dropped the body.
    wire = put_secret_value(monkeypatch, server, style)
    tampered = wire.with_header("content-type", "\xa0" + wire.header("content-type"))
    refused(send(server.endpoint, tampered), "IncompleteSignature")


def test_a_signed_header_repeated_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess
) -> None:
    wire = describe_regions(monkeypatch, server, ACS3)
    nonce = wire.header("x-acs-signature-nonce")
    doubled = replace(wire, headers=[*wire.headers, ("x-acs-signature-nonce", nonce)])
    refused(send(server.endpoint, doubled), "IncompleteSignature")


# -- 2. one canonical form: a raw name never stands for several parameters ---------------------


@pytest.fixture(scope="module")
def key_id(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


def test_a_raw_name_cannot_stand_for_two_signed_parameters(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, key_id: str
) -> None:
    # Signed: a DryRun Encrypt bound to a context. Sent: one parameter whose raw name spells
    # "DryRun=true&EncryptionContext" - a real Encrypt without a context, if accepted.
    request = km.EncryptRequest(
        key_id=key_id, plaintext=b64(b"x"), encryption_context={"a": "b"}, dry_run="true"
    )
    sdk = client(server)
    wire = capture(monkeypatch, lambda: sdk.encrypt(request))
    assert wire.query.startswith("DryRun=true&EncryptionContext=")
    smuggled = wire.target.replace(
        "DryRun=true&EncryptionContext=", "DryRun%3Dtrue%26EncryptionContext=", 1
    )
    answer = send(server.endpoint, replace(wire, target=smuggled))
    refused(answer, "SignatureDoesNotMatch")


@pytest.mark.parametrize("char", ["=", "&", "%"])
def test_a_raw_name_with_a_separator_is_refused_even_when_signed_raw(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, char: str
) -> None:
    # An attacker's own signer cannot make the ambiguous raw form acceptable either.
    wire = describe_regions(monkeypatch, server, ACS3)
    query = [(f"a{char}b", "v")]
    tampered = resign_acs3(
        wire, server.access_key_id, server.access_key_secret, query, signed_headers_of(wire)
    )
    refused(send(server.endpoint, tampered), "SignatureDoesNotMatch")


def test_the_python_sdks_raw_map_key_names_still_verify(server: ServerProcess, kms: Client) -> None:
    # The Python SDK signs map keys unencoded: "ExtendedConfig.CustomData.my key" needs the
    # raw-name form, which stays accepted because no raw name contains '=', '&' or '%'.
    name = f"raw-{uuid.uuid4().hex[:8]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, secret_data="v", version_id="v1"))
    config = km.UpdateSecretRequestExtendedConfig(custom_data={"my key": "v w"})
    kms.update_secret(km.UpdateSecretRequest(secret_name=name, extended_config=config))
    meta = kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body
    assert "my key" in str(meta.extended_config)


# -- 3. the request head is bounded before it is read ------------------------------------------


def _big_head(size: int) -> bytes:
    return b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * size + b"\r\n\r\n"


def _answer_or_close(endpoint: str, raw: bytes) -> int:
    """Send ``raw`` (the server may stop reading early) and return the status, 0 if closed."""
    host, port = endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return 0
    if not data:
        return 0
    return int(data.split(b" ", 2)[1])


def _health_seconds(server: ServerProcess) -> float:
    start = time.monotonic()
    assert httpx.get(f"http://{server.endpoint}/health", timeout=10).status_code == 200
    return time.monotonic() - start


def test_a_one_mib_header_is_refused_quickly(server: ServerProcess) -> None:
    start = time.monotonic()
    status = _answer_or_close(server.endpoint, _big_head(1024 * 1024))
    elapsed = time.monotonic() - start
    assert status == 431
    assert elapsed < 1.0
    assert _health_seconds(server) < 0.5


def test_health_stays_fast_while_a_huge_header_streams_in(server: ServerProcess) -> None:
    host, port = server.endpoint.rsplit(":", 1)
    stop = threading.Event()
    outcome: list[str] = []

    def stream() -> None:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ")
                while not stop.is_set():
                    sock.sendall(b"a" * 65536)
            except OSError:
                outcome.append("closed")

    thread = threading.Thread(target=stream)
    thread.start()
    try:
        time.sleep(0.3)
        assert _health_seconds(server) < 0.5
    finally:
        stop.set()
        thread.join(10)
    assert outcome == ["closed"]  # the server gave up on the endless header


def test_too_many_headers_are_refused(server: ServerProcess) -> None:
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(101))
    raw = b"GET /health HTTP/1.1\r\nhost: x\r\n" + fields + b"\r\n"
    assert _answer_or_close(server.endpoint, raw) == 431


def test_a_long_request_line_is_refused(server: ServerProcess) -> None:
    raw = b"GET /?" + b"a" * (HEADER_LIMIT + 1) + b" HTTP/1.1\r\nhost: x\r\n\r\n"
    assert _answer_or_close(server.endpoint, raw) == 431


def test_a_head_under_the_limit_reaches_the_gateway(server: ServerProcess) -> None:
    answer = send(server.endpoint, _big_head(HEADER_LIMIT - 200))
    assert answer.status == 200


def test_a_body_arriving_with_the_head_is_not_counted_as_head(server: ServerProcess) -> None:
    body = b"a" * 60_000
    head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body)
    answer = send(server.endpoint, head + body)
    refused(answer, "IncompleteSignature")


def test_pipelined_requests_after_a_large_body_are_answered(server: ServerProcess) -> None:
    # The body (over the head limit) and the next request arrive in one read: the body is not
    # counted as head, and the second request is parsed and answered.
    body = b"a" * 40_000
    first = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body)
    second = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
    host, port = server.endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(first + body + second)
        reader = sock.makefile("rb")
        statuses = []
        for _ in range(2):
            statuses.append(int(reader.readline().split(b" ", 2)[1]))
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
    assert statuses == [400, 200]


def test_a_huge_header_over_tls_is_refused(server: ServerProcess) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    host, port = server.tls_endpoint.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        with contextlib.suppress(OSError):
            sock.sendall(_big_head(1024 * 1024))
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
    assert data == b"" or data.startswith(b"HTTP/1.1 431 ")


# -- a request is read within a deadline (slowloris), and connections are bounded ------------

READ_TIMEOUT = 1.0  # configured short here; the default is 20 s
MAX_CONNECTIONS = 8
HEALTH = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a short read deadline and few connections per listener (SQLite only:
    connection handling never touches the store)."""
    tmp = tmp_path_factory.mktemp("mamori-deadline")
    env = {
        "MAMORI_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "MAMORI_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    url = f"sqlite:///{tmp / 'data' / 'mamori.db'}"
    proc = ServerProcess("sqlite", tmp / "data", url, free_port(), free_port(), env=env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _connect(server: ServerProcess) -> socket.socket:
    host, port = server.endpoint.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def _until_closed(
    sock: socket.socket, pieces: Iterator[bytes], every: float = 0.2, give_up: float = 6.0
) -> tuple[bytes, float]:
    """Send a piece every ``every`` seconds while reading; what the server sent before it
    closed the connection, and after how many seconds (``give_up`` if it never did)."""
    start = time.monotonic()
    received = b""
    sock.settimeout(every)
    while time.monotonic() - start < give_up:
        piece = next(pieces, None)
        if piece is not None:
            with contextlib.suppress(OSError):  # closed under us: read what it said
                sock.sendall(piece)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    return received, time.monotonic() - start


def _timed_out(received: bytes, elapsed: float) -> None:
    assert READ_TIMEOUT * 0.9 <= elapsed < READ_TIMEOUT + 2, elapsed
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"connection: close" in head
    assert json.loads(body)["Code"] == "RequestTimeout"


def test_a_head_that_never_ends_is_closed_after_the_read_deadline(
    guarded: ServerProcess,
) -> None:
    with _connect(guarded) as sock:
        _timed_out(*_until_closed(sock, iter([b"POST / HTTP/1.1\r\nhost: x\r\n"])))


def test_a_trickled_head_is_closed_after_the_read_deadline(guarded: ServerProcess) -> None:
    # Each piece arrives well within any idle timeout; the deadline counts from the first byte.
    trickle = itertools.chain([b"POST / HTTP/1.1\r\nhost: x\r\n"], itertools.repeat(b"x-a: b\r\n"))
    with _connect(guarded) as sock:
        _timed_out(*_until_closed(sock, trickle))


def test_a_signed_request_missing_its_last_body_bytes_is_closed_after_the_read_deadline(
    monkeypatch: pytest.MonkeyPatch, guarded: ServerProcess
) -> None:
    raw = put_secret_value(monkeypatch, guarded).to_bytes()
    with _connect(guarded) as sock:
        _timed_out(*_until_closed(sock, iter([raw[:-3]])))


def test_a_silent_connection_is_closed_without_an_answer(guarded: ServerProcess) -> None:
    with _connect(guarded) as sock:
        received, elapsed = _until_closed(sock, iter([]))
    assert (received, elapsed < READ_TIMEOUT + 2) == (b"", True)


def _answer(sock: socket.socket) -> int:
    sock.settimeout(5)
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response.status


def test_a_slow_complete_request_and_keep_alive_reuse_still_work(
    monkeypatch: pytest.MonkeyPatch, guarded: ServerProcess
) -> None:
    first = describe_regions(monkeypatch, guarded, ACS3).to_bytes()
    second = describe_regions(monkeypatch, guarded, ACS3).to_bytes()
    with _connect(guarded) as sock:
        step = len(first) // 4 + 1
        for start in range(0, len(first), step):  # four pieces over 0.6 s: within the deadline
            sock.sendall(first[start : start + step])
            time.sleep(0.2)
        assert _answer(sock) == 200
        time.sleep(READ_TIMEOUT * 1.5)  # idle between requests is the keep-alive timeout's
        sock.sendall(second)
        assert _answer(sock) == 200


def test_connections_past_the_limit_get_503_until_the_deadline_frees_them(
    guarded: ServerProcess,
) -> None:
    with contextlib.ExitStack() as stack:
        for _ in range(MAX_CONNECTIONS - 1):
            stack.enter_context(_connect(guarded))
        assert send(guarded.endpoint, HEALTH).status == 200  # the limit-th connection is served
        stack.enter_context(_connect(guarded))
        answer = send(guarded.endpoint, HEALTH)
        assert (answer.status, answer.code) == (503, "ServiceUnavailableTemporary"), answer.body
        time.sleep(READ_TIMEOUT + 0.5)  # the idle sockets have sent nothing: they are closed
        assert send(guarded.endpoint, HEALTH).status == 200


# -- 4. a parameter is named once --------------------------------------------------------------


def test_a_parameter_in_query_and_form_is_refused(server: ServerProcess, key_id: str) -> None:
    other = str(client(server).create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    params = open_api_util_models.Params(
        action="DescribeKey",
        version="2016-01-20",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(query={"KeyId": key_id}, body={"KeyId": other})
    sdk = client(server)
    with pytest.raises(Exception) as info:
        sdk.call_api(params, request, RuntimeOptions())
    assert getattr(info.value, "code", None) == "InvalidParameter", info.value
    assert "KeyId" in str(info.value)


def test_a_parameter_twice_in_the_query_is_refused(server: ServerProcess, key_id: str) -> None:
    other = str(client(server).create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    params = [
        ("AccessKeyId", server.access_key_id),
        ("Action", "DescribeKey"),
        ("Format", "JSON"),
        ("KeyId", key_id),
        ("KeyId", other),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", uuid.uuid4().hex),
        ("SignatureVersion", "1.0"),
        ("Timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        ("Version", "2016-01-20"),
    ]
    target = v1_target(params, server.access_key_secret)
    answer = send(server.endpoint, Wire("POST", target, [("host", server.endpoint)]))
    refused(answer, "InvalidParameter")
    assert "KeyId" in answer.json()["Message"]


# -- 4b. every spelling of a query reads as the values it decodes to -------------------------

# A context with a space, so '+' and '%20' both spell something; the plaintext's base64 has
# '+', '/' and '=' to escape.
CONTEXT = {"purpose": "card data", "tenant": "a+b"}
PLAINTEXT = b64(bytes(range(250, 256)) * 30)


def _respelled(query: list[tuple[str, str]], spell: str) -> str:
    """``query`` spelled one of the ways a client may: each decodes to the same pairs."""
    if spell == "sdk":  # what the SDKs send: canonical form, '+' for a space
        return urlencode(query)
    if spell == "percent-20":  # canonical form, '%20' for a space
        return urlencode(query, quote_via=quote, safe="")
    if spell == "lower-case":  # lower-case escapes: the decode-and-re-encode path
        return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), urlencode(query))
    # every byte of every value escaped, unreserved ones too: the decode-and-re-encode path
    return "&".join(f"{k}=" + "".join(f"%{b:02X}" for b in v.encode()) for k, v in query)


@pytest.mark.parametrize("spell", ["sdk", "percent-20", "lower-case", "all-escaped"])
def test_every_spelling_of_a_signed_query_is_read_the_same(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, kms: Client, key_id: str, spell: str
) -> None:
    request = km.EncryptRequest(key_id=key_id, plaintext=PLAINTEXT, encryption_context=CONTEXT)
    wire = capture(monkeypatch, lambda: kms.encrypt(request))
    query = parse_qsl(wire.query, keep_blank_values=True)
    signed = resign_acs3(
        wire.with_header("x-acs-signature-nonce", uuid.uuid4().hex),
        server.access_key_id,
        server.access_key_secret,
        query,
        signed_headers_of(wire),
    )
    answer = send(server.endpoint, replace(signed, target="/?" + _respelled(query, spell)))
    assert answer.status == 200, answer.body
    blob = answer.json()["CiphertextBlob"]
    opened = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context=CONTEXT)).body
    assert opened.plaintext == PLAINTEXT


@pytest.mark.parametrize(("old", "new"), [("card+data", "card%2Bdata"), ("a%2Bb", "a+b")])
def test_a_respelling_that_changes_a_value_fails_the_signature(
    monkeypatch: pytest.MonkeyPatch,
    server: ServerProcess,
    kms: Client,
    key_id: str,
    old: str,
    new: str,
) -> None:
    # A space turned into a '+' (or back): the query stays in canonical form, but decodes to
    # other values than were signed.
    request = km.EncryptRequest(key_id=key_id, plaintext=PLAINTEXT, encryption_context=CONTEXT)
    wire = capture(monkeypatch, lambda: kms.encrypt(request))
    assert old in wire.query
    answer = send(server.endpoint, replace(wire, target="/?" + wire.query.replace(old, new)))
    refused(answer, "SignatureDoesNotMatch")


# -- 4c. a tampered query is refused, or reads as what was signed -------------------------------

# Spellings an attacker splices into a signed query: separators, every kind of escape, bytes
# that canonical form never holds.
_SPLICES = (
    "&",
    "&&",
    "=",
    "+",
    "%20",
    "%2B",
    "%2b",
    "%25",
    "%",
    "%2",
    "%00",
    "%C0%AF",
    "%EF%BF%BD",
    "%C3%A9",
    "%c3%a9",
    "\u00e9",
    ";",
    "a=b",
    "%3D",
    "%26",
    "%41",
    "A",
    "~",
    "%7E",
    "=&",
    "%ff",
)


def _signed_encrypt(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, kms: Client, key_id: str, style: str
) -> Wire:
    """An Encrypt with a context, signed once per style: by the SDK (ACS3), or as RPC V1."""
    request = km.EncryptRequest(key_id=key_id, plaintext=PLAINTEXT, encryption_context=CONTEXT)
    if style == ACS3:
        return capture(monkeypatch, lambda: kms.encrypt(request))
    params = [
        ("AccessKeyId", server.access_key_id),
        ("Action", "Encrypt"),
        ("EncryptionContext", json.dumps(CONTEXT)),
        ("Format", "JSON"),
        ("KeyId", key_id),
        ("Plaintext", PLAINTEXT),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", uuid.uuid4().hex),
        ("SignatureVersion", "1.0"),
        ("Timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        ("Version", "2016-01-20"),
    ]
    target = v1_target(params, server.access_key_secret, method="GET")
    return Wire("GET", target, [("host", server.endpoint)])


@pytest.mark.parametrize("style", [ACS3, "V1"])
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_tampered_query_is_refused_or_reads_as_signed(
    monkeypatch: pytest.MonkeyPatch,
    server: ServerProcess,
    kms: Client,
    key_id: str,
    style: str,
    data: st.DataObject,
) -> None:
    # One signed request per style: a tamper that keeps the signature is then refused as a
    # replay (SignatureNonceUsed), which is fine only if it reads as the pairs that were signed.
    signed = (key_id, style)
    wire = _captured.get(signed) or _signed_encrypt(monkeypatch, server, kms, key_id, style)
    _captured[signed] = wire
    query = wire.query
    tampered = query
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(tampered)))
        cut = data.draw(st.integers(0, 3))
        tampered = tampered[:at] + data.draw(st.sampled_from(_SPLICES)) + tampered[at + cut :]
    if tampered == query:
        return
    answer = send(server.endpoint, replace(wire, target="/?" + tampered))
    if answer.status != 200 and answer.code != "SignatureNonceUsed":
        # Refused before the action ran: by the signature, by a check before it (a parameter
        # given twice, an AccessKeyId cut short), or by the HTTP parser; never a failure.
        assert answer.status < 500, (tampered, answer.body)
        return
    assert sorted(parse_qsl(tampered, keep_blank_values=True)) == sorted(
        parse_qsl(query, keep_blank_values=True)
    ), (tampered, answer.body)


_captured: dict[tuple[str, str], Wire] = {}


# -- 5. small things -------------------------------------------------------------------------


def test_a_control_character_in_a_v1_access_key_id_is_not_found(server: ServerProcess) -> None:
    params = [
        ("AccessKeyId", "LTAI\x00x"),
        ("Action", "DescribeRegions"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", uuid.uuid4().hex),
        ("SignatureVersion", "1.0"),
        ("Timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        ("Version", "2016-01-20"),
    ]
    target = v1_target(params, "whatever")
    answer = send(server.endpoint, Wire("POST", target, [("host", server.endpoint)]))
    refused(answer, "InvalidAccessKeyId.NotFound", 404)


@pytest.mark.parametrize("style", [ACS3, ACS4])
def test_a_body_needs_a_signed_content_type(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, style: str
) -> None:
    ak, secret = server.access_key_id, server.access_key_secret
    wire = put_secret_value(monkeypatch, server, style)
    signed = [name for name in signed_headers_of(wire) if name != "content-type"]
    if style == ACS3:
        unsigned = resign_acs3(wire, ak, secret, parse_qsl(wire.query), signed)
    else:
        unsigned = resign_acs4(wire, ak, secret, "center", "Kms", signed)
    refused(send(server.endpoint, unsigned), "IncompleteSignature")


@pytest.mark.parametrize(
    ("region", "product"), [("eu-central-1", "Kms"), ("cn-hangzhou", "Ecs"), ("center", "Ram")]
)
def test_the_acs4_scope_must_name_this_region_and_product(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, region: str, product: str
) -> None:
    wire = describe_regions(monkeypatch, server, ACS4)
    ak, secret = server.access_key_id, server.access_key_secret
    other = resign_acs4(wire, ak, secret, region, product, signed_headers_of(wire))
    refused(send(server.endpoint, other), "IncompleteSignature")


@pytest.mark.parametrize("region_id", ["cn-hangzhou", None])
def test_the_acs4_scopes_the_sdk_sends_are_accepted(
    server: ServerProcess, region_id: str | None
) -> None:
    # Pointed at an address, the SDK names the region "center"; told a region, it names that.
    extra = {"region_id": region_id} if region_id else {}
    client(server, ACS4, **extra).describe_regions()


@pytest.fixture
def inactive_key(ram: RamClient) -> Iterator[tuple[str, str]]:
    name = f"inactive-{uuid.uuid4().hex[:8]}"
    ram.create_user(rm.CreateUserRequest(user_name=name))
    key = ram.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    ram.update_access_key(
        rm.UpdateAccessKeyRequest(
            user_name=name, user_access_key_id=key.access_key_id, status="Inactive"
        )
    )
    yield key.access_key_id, key.access_key_secret


def test_an_inactive_key_is_reported_only_to_its_holder(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, inactive_key: tuple[str, str]
) -> None:
    ak, secret = inactive_key
    guess = new_sdk(server.endpoint, ak, "not-the-secret")
    answer = send(server.endpoint, capture(monkeypatch, guess.describe_regions))
    refused(answer, "SignatureDoesNotMatch")
    holder = new_sdk(server.endpoint, ak, secret)
    answer = send(server.endpoint, capture(monkeypatch, holder.describe_regions))
    refused(answer, "InvalidAccessKeyId.Inactive")
