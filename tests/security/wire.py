"""What an attacker on the wire does: capture a request an official SDK signs, then tamper with
it and send it over a raw socket (so that no client library normalises the tampering away).

The re-signing helpers below are the attacker's own signer, for attacks that need a validly
signed request the SDKs would never produce (a parameter named twice, an unsigned content-type,
another ACS4 scope); ``test_the_test_signer_reproduces_the_sdk`` holds them to the SDK's output.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests


class _Captured(Exception):
    """Raised instead of sending: the captured request never reaches the server."""


@dataclass(frozen=True)
class Wire:
    """One HTTP request as bytes-level parts: method, request target, header pairs, body."""

    method: str
    target: str  # path and query exactly as sent, e.g. "/?KeyId=..."
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str:
        """The value of the (first) header ``name``, case-insensitively."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        raise KeyError(name)

    def with_header(self, name: str, value: str) -> Wire:
        """The same request with header ``name`` (lower case) set to ``value``."""
        headers = [(k, v) for k, v in self.headers if k.lower() != name]
        return replace(self, headers=[*headers, (name, value)])

    def without_header(self, name: str) -> Wire:
        """The same request without header ``name``."""
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() != name])

    @property
    def query(self) -> str:
        """The raw query string."""
        return urlsplit(self.target).query

    def to_bytes(self) -> bytes:
        """The request as it goes on the wire (header values as latin-1, like HTTP/1.1)."""
        head = [f"{self.method} {self.target} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"]
        head.append(f"content-length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


@contextmanager
def capturing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Wire]]:
    """While active, the new SDK's requests are recorded and NOT sent (the SDK call raises)."""
    seen: list[Wire] = []

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        url = urlsplit(request.url or "")
        target = url.path + (f"?{url.query}" if url.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = [(name.lower(), str(value)) for name, value in request.headers.items()]
        seen.append(Wire(str(request.method), target, headers, body))
        raise _Captured

    with monkeypatch.context() as patch:
        patch.setattr(requests.Session, "send", send)
        yield seen


def capture(monkeypatch: pytest.MonkeyPatch, call: Callable[[], object]) -> Wire:
    """The request ``call`` makes through the new SDK, signed but never sent."""
    # The SDK wraps _Captured in its own exceptions.
    with capturing(monkeypatch) as seen, contextlib.suppress(Exception):
        call()
    assert seen, "the SDK sent nothing"
    return seen[0]


@dataclass(frozen=True)
class Answer:
    """A response read back from a raw socket."""

    status: int
    body: bytes

    @property
    def code(self) -> str:
        """The Alibaba error code of a JSON error body ("" when there is none)."""
        try:
            return str(json.loads(self.body).get("Code", ""))
        except ValueError:
            return ""

    def json(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data


def send(endpoint: str, wire: Wire | bytes, timeout: float = 10.0) -> Answer:
    """Send raw bytes on a new connection and read one response with the standard library."""
    host, port = endpoint.rsplit(":", 1)
    raw = wire.to_bytes() if isinstance(wire, Wire) else wire
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, response.read())


# -- the attacker's signer ---------------------------------------------------------------------


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def acs_canonical(
    wire: Wire, query: list[tuple[str, str]], signed: list[str], *, encode_names: bool
) -> str:
    """The ACS3/ACS4 canonical request of ``wire`` with decoded ``query`` over ``signed``."""
    pairs = sorted(query)
    canon_query = "&".join(f"{_enc(k) if encode_names else k}={_enc(v)}" for k, v in pairs)
    lines = "".join(f"{name}:{wire.header(name).strip()}\n" for name in signed)
    payload = hashlib.sha256(wire.body).hexdigest()
    path = urlsplit(wire.target).path or "/"
    return f"{wire.method}\n{path}\n{canon_query}\n{lines}\n{';'.join(signed)}\n{payload}"


def resign_acs3(
    wire: Wire,
    ak: str,
    secret: str,
    query: list[tuple[str, str]],
    signed: list[str],
    *,
    encode_names: bool = False,
) -> Wire:
    """``wire`` with query ``query`` (sent encoded) and a fresh ACS3 signature over ``signed``."""
    canonical = acs_canonical(wire, query, signed, encode_names=encode_names)
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    auth = (
        f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    target = urlsplit(wire.target).path + "?" + "&".join(f"{_enc(k)}={_enc(v)}" for k, v in query)
    return replace(wire, target=target).with_header("authorization", auth)


def resign_acs4(
    wire: Wire, ak: str, secret: str, region: str, product: str, signed: list[str]
) -> Wire:
    """``wire`` with a fresh ACS4 signature for the scope ``region``/``product``."""
    query = parse_qsl(wire.query, keep_blank_values=True)
    date = wire.header("x-acs-date")[:10].replace("-", "")

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    k_date = mac(f"aliyun_v4{secret}".encode(), date)
    key = mac(mac(mac(k_date, region), product), "aliyun_v4_request")
    canonical = acs_canonical(wire, query, signed, encode_names=True)
    to_sign = "ACS4-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = (
        f"ACS4-HMAC-SHA256 Credential={ak}/{date}/{region}/{product}/aliyun_v4_request,"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return wire.with_header("authorization", auth)


def signed_headers_of(wire: Wire) -> list[str]:
    """The SignedHeaders list of ``wire``'s Authorization header."""
    auth = wire.header("authorization")
    return auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")


def v1_target(params: list[tuple[str, str]], secret: str, method: str = "POST") -> str:
    """A request target carrying ``params`` (any order, names may repeat) and their V1
    signature, computed over every pair as RPC V1 defines it."""
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params))
    to_sign = f"{method}&%2F&{_enc(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    pairs = [*params, ("Signature", signature)]
    return "/?" + "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs)
