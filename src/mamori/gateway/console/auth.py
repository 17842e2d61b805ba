"""Signing in with an AccessKey, and out.

The secret is checked once, here, against the stored one in constant time, and then forgotten:
the browser keeps only a random session id in an HttpOnly, SameSite=Strict cookie (Secure on
TLS). Every failure gives the same answer, so the page tells nobody which AccessKey ids exist.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Final

import jinja2

from mamori.gateway.console.http import Refused, Request, Response
from mamori.gateway.console.pages import PREFIX
from mamori.iam.access_keys import ACTIVE, AccessKeyService

_WRONG: Final = "That AccessKey ID and secret do not sign in: wrong, or not Active."
# Compared against when the id is unknown, so an unknown id costs what a known one does.
_DUMMY: Final = b"0" * 30
MAX_FIELD: Final = 128

SignedIn = Callable[[str, str, bool], Response]


def sign_in(
    request: Request,
    templates: jinja2.Environment,
    access_keys: AccessKeyService,
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
    entry = access_keys.lookup(access_key_id)
    expected = entry.secret.encode() if entry is not None else _DUMMY
    matches = hmac.compare_digest(expected, secret.encode())
    if entry is None or not matches or entry.status != ACTIVE:
        return _form(templates, _WRONG, 401)
    return on_success(access_key_id, entry.principal.arn, request.secure)


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
