"""Signing in with an AccessKey, and out.

The secret is checked once, here, against the stored one in constant time, and then forgotten:
the browser keeps only a random session id in an HttpOnly, SameSite=Strict cookie (Secure on
TLS). Every failure gives the same answer, so the page tells nobody which AccessKey ids exist;
an unknown id is compared against a random dummy secret, as a known one is against its own.
Failed sign-ins are limited per address and per AccessKey id (``throttle``): past the limit a
sign-in is refused (429) without being checked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final

import jinja2

from mamori.gateway.console.http import Refused, Request, Response
from mamori.gateway.console.pages import PREFIX
from mamori.gateway.console.throttle import FailedSignIns
from mamori.iam.access_keys import ACTIVE, AccessKeyService

_WRONG: Final = "That AccessKey ID and secret do not sign in: wrong, or not Active."
# Compared against when the id is unknown, so an unknown id costs what a known one does (a
# random secret of this process: no presented secret matches it).
_DUMMY: Final = secrets.token_urlsafe(24)
MAX_FIELD: Final = 128

SignedIn = Callable[[str, str, bool], Response]


def sign_in(
    request: Request,
    templates: jinja2.Environment,
    access_keys: AccessKeyService,
    failures: FailedSignIns,
    on_success: SignedIn,
) -> Response:
    """GET: the form. POST: check the AccessKey; a session on success."""
    if request.method == "GET":
        return _form(templates, "", 200)
    access_key_id = request.form.get("access_key_id", "").strip()
    secret = request.form.get("access_key_secret", "").strip()
    if not access_key_id or not secret:
        return _form(templates, "Give both the AccessKey ID and its secret.", 400)
    if len(access_key_id) > MAX_FIELD or len(secret) > MAX_FIELD:
        raise Refused(400, "The AccessKey ID or secret is too long.")
    limited = failures.limited(request.client_ip, access_key_id)
    if limited is not None:
        which = "from your address" if limited.by_address else "with this AccessKey ID"
        response = _form(
            templates,
            f"Too many failed sign-ins {which}: try again in {limited.retry_after} seconds.",
            429,
        )
        response.headers.append((b"retry-after", str(limited.retry_after).encode()))
        return response
    entry = access_keys.lookup(access_key_id)
    expected = entry.secret if entry is not None else _DUMMY
    if not _same_secret(expected, secret) or entry is None or entry.status != ACTIVE:
        failures.failed(request.client_ip, access_key_id)
        return _form(templates, _WRONG, 401)
    return on_success(access_key_id, entry.principal.arn, request.secure)


def _same_secret(expected: str, presented: str) -> bool:
    """Constant time whatever the lengths: the SHA-256 digests are compared."""
    return hmac.compare_digest(
        hashlib.sha256(expected.encode()).digest(), hashlib.sha256(presented.encode()).digest()
    )


def _form(templates: jinja2.Environment, error: str, status: int) -> Response:
    body = templates.get_template("sign_in.html").render(prefix=PREFIX, error=error)
    return Response(status, body.encode())


def _cookie(name: str, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    parts = [f"{name}={value}", f"Path={PREFIX}", f"Max-Age={max_age}", "HttpOnly"]
    parts.append("SameSite=Strict")
    if secure:
        parts.append("Secure")
    return b"set-cookie", "; ".join(parts).encode()


def signed_in(session_id: str, secure: bool, cookie: str, max_age: int) -> Response:
    """The session cookie, and on to the keys."""
    return Response(
        303,
        headers=[
            (b"location", f"{PREFIX}/keys".encode()),
            _cookie(cookie, session_id, max_age, secure),
        ],
    )


def signed_out(secure: bool, cookie: str) -> Response:
    """The cookie erased, and back to the sign-in page."""
    return Response(
        303,
        headers=[(b"location", f"{PREFIX}/sign-in".encode()), _cookie(cookie, "", 0, secure)],
    )
