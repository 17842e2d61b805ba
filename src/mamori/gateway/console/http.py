"""The console's HTTP plumbing: a request read with bounds, a response, cookies.

Forms are ``application/x-www-form-urlencoded`` only (no multipart parser is exposed); a body
over the server's ``max_body_bytes``, more than ``MAX_FIELDS`` fields or a field given twice is
refused before any view sees it, as the API gateway refuses a parameter named twice.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl

from mamori.gateway.asgi import ASGIScope, Receive, Send

MAX_FIELDS: Final = 64
FORM: Final = "application/x-www-form-urlencoded"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A request the console answers with ``status`` and a short reason, before any view."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Request:
    """One console request, parsed."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    form: Mapping[str, str]
    secure: bool
    client_ip: str

    @property
    def htmx(self) -> bool:
        """Sent by htmx (answer with a fragment rather than a page)."""
        return self.headers.get("hx-request") == "true"


@dataclass(slots=True)
class Response:
    """What a view answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def redirect(location: str) -> Response:
    """303 See Other: after a POST, the browser GETs ``location`` (a path on this console)."""
    return Response(303, headers=[(b"location", location.encode())])


def fields(raw: str, where: str) -> dict[str, str]:
    """Name → value; a name given twice, or too many names, is refused."""
    try:
        pairs = parse_qsl(
            raw, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except ValueError:
        raise Refused(400, f"Too many fields in the {where}.") from None
    result: dict[str, str] = {}
    for name, value in pairs:
        if name in result:
            raise Refused(400, f"The field {name!r} is given twice in the {where}.")
        result[name] = value
    return result


def parse_cookies(header: str) -> dict[str, str]:
    """The Cookie header's pairs; a name given twice is dropped. The console sets each of its
    cookies on one path only, so a second copy was set by someone else (cookie tossing from a
    sibling host, for a longer path that browsers send first): neither copy is trusted."""
    cookies: dict[str, str] = {}
    repeated: set[str] = set()
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if not sep or not name:
            continue
        if name in cookies:
            repeated.add(name)
        cookies[name] = value
    for name in repeated:
        del cookies[name]
    return cookies


@dataclass(frozen=True, slots=True)
class Peer:
    """Who the request is from and whether it reached us over TLS, as far as we can tell."""

    client_ip: str
    secure: bool


def _header(scope: ASGIScope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name]


def peer(scope: ASGIScope, trusted: Sequence[Network]) -> Peer:
    """The connection's address and scheme; for a connection from a trusted proxy, what its
    ``X-Forwarded-Proto`` (one header, ``https`` or ``http``) and the last address of its
    ``X-Forwarded-For`` (the one the proxy appended) say instead. From anyone else, both
    headers are ignored."""
    client = scope.get("client")
    address = client[0] if client else ""
    secure = scope.get("scheme") == "https"
    if not trusted or not _within(address, trusted):
        return Peer(address, secure)
    proto = _header(scope, b"x-forwarded-proto")
    if len(proto) == 1 and proto[0].strip().lower() in ("https", "http"):
        secure = proto[0].strip().lower() == "https"
    forwarded = ",".join(_header(scope, b"x-forwarded-for")).split(",")
    last = forwarded[-1].strip()
    with contextlib.suppress(ValueError):  # none, or not an address: the proxy's own
        address = str(ipaddress.ip_address(last))
    return Peer(address, secure)


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


async def read_request(
    scope: ASGIScope, receive: Receive, max_body: int, who: Peer | None = None
) -> Request:
    """Parse the ASGI request; bodies only for POST, bounded by ``max_body``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        # A repeated header is joined as HTTP allows, so no copy can stand in for another.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    method = scope["method"]
    try:
        query_text = scope["query_string"].decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "The query string is not UTF-8.") from None
    form: dict[str, str] = {}
    if method == "POST":
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM:
            raise Refused(415, "Forms must be sent as application/x-www-form-urlencoded.")
        body = await _read_body(headers, receive, max_body)
        try:
            form = fields(body.decode("utf-8"), "form")
        except UnicodeDecodeError:
            raise Refused(400, "The form is not UTF-8.") from None
    who = who or peer(scope, ())
    return Request(
        method=method,
        path=scope["path"],
        query=fields(query_text, "query string"),
        headers=headers,
        cookies=parse_cookies(headers.get("cookie", "")),
        form=form,
        secure=who.secure,
        client_ip=who.client_ip,
    )


async def _read_body(headers: Mapping[str, str], receive: Receive, max_body: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise Refused(413, f"The form is larger than {max_body} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            raise Refused(413, f"The form is larger than {max_body} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(send: Send, response: Response, extra: list[tuple[bytes, bytes]]) -> None:
    """Write ``response`` with ``extra`` headers (the security headers)."""
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
        *extra,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
