"""Signing in with an AccessKey, and out.

The secret is checked once, here, against the stored one in constant time, and then forgotten:
the browser keeps only a random session id in an HttpOnly, SameSite=Strict cookie (Secure on
TLS). Every failure gives the same answer, so the page tells nobody which AccessKey ids exist;
an unknown id is compared against a random dummy secret, as a known one is against its own.
Failed sign-ins are limited per address and per AccessKey id (``throttle``): past the limit a
sign-in is refused (429) without being checked.

Login CSRF: the form carries a random token that is also set, for ten minutes, in a
pre-session cookie (``SameSite=Strict``, ``Path=/console/sign-in``); a sign-in POST whose token
and cookie differ (compared in constant time) is refused before any AccessKey is looked at, so
another site's page cannot sign a browser in as the attacker's principal (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final

import jinja2

from mamori.gateway.console.http import Refused, Request, Response
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.throttle import FailedSignIns
from mamori.iam.access_keys import ACTIVE, AccessKeyService

_WRONG: Final = "That AccessKey ID and secret do not sign in: wrong, or not Active."
# Compared against when the id is unknown, so an unknown id costs what a known one does (a
# random secret of this process: no presented secret matches it).
_DUMMY: Final = secrets.token_urlsafe(24)
MAX_FIELD: Final = 128

SIGNIN_COOKIE: Final = "mamori_signin"
SIGNIN_SECONDS: Final = 600
_STALE: Final = (
    "This sign-in form has expired or did not come from this console: reload the page and "
    "sign in again."
)

SignedIn = Callable[[str, str, bool], Response]


def sign_in(
    request: Request,
    templates: jinja2.Environment,
    access_keys: AccessKeyService,
    failures: FailedSignIns,
    on_success: SignedIn,
) -> Response:
    """GET: the form. POST: check the form's token, then the AccessKey; a session on
    success."""
    if request.method == "GET":
        return _form(templates, "", 200, request.secure)
    if not _token_matches(request):
        return _form(templates, _STALE, 403, request.secure)
    access_key_id = request.form.get("access_key_id", "").strip()
    secret = request.form.get("access_key_secret", "").strip()
    if not access_key_id or not secret:
        return _form(templates, "Give both the AccessKey ID and its secret.", 400, request.secure)
    if len(access_key_id) > MAX_FIELD or len(secret) > MAX_FIELD:
        raise Refused(400, "The AccessKey ID or secret is too long.")
    limited = failures.attempt(request.client_ip, access_key_id)
    if limited is not None:
        which = "from your address" if limited.by_address else "with this AccessKey ID"
        response = _form(
            templates,
            f"Too many failed sign-ins {which}: try again in {limited.retry_after} seconds.",
            429,
            request.secure,
        )
        response.headers.append((b"retry-after", str(limited.retry_after).encode()))
        return response
    entry = access_keys.lookup(access_key_id)
    expected = entry.secret if entry is not None else _DUMMY
    if not _same_secret(expected, secret) or entry is None or entry.status != ACTIVE:
        return _form(templates, _WRONG, 401, request.secure)  # the attempt stays counted
    failures.succeeded(request.client_ip, access_key_id)
    return on_success(access_key_id, entry.principal.arn, request.secure)


def _same_secret(expected: str, presented: str) -> bool:
    """Constant time whatever the lengths: the SHA-256 digests are compared."""
    return hmac.compare_digest(
        hashlib.sha256(expected.encode()).digest(), hashlib.sha256(presented.encode()).digest()
    )


def _token_matches(request: Request) -> bool:
    presented = request.form.get("signin_token", "")
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not presented or not expected or len(presented) > MAX_FIELD:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def _form(templates: jinja2.Environment, error: str, status: int, secure: bool) -> Response:
    """The form with a new token, and the pre-session cookie holding the same token."""
    token = secrets.token_urlsafe(32)
    body = templates.get_template("sign_in.html").render(
        prefix=PREFIX, error=error, signin_token=token
    )
    cookie = _cookie(SIGNIN_COOKIE, token, SIGNIN_SECONDS, secure, f"{PREFIX}/sign-in")
    return Response(status, body.encode(), headers=[cookie])


def _cookie(
    name: str, value: str, max_age: int, secure: bool, path: str = PREFIX
) -> tuple[bytes, bytes]:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly"]
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
            # The pre-session token has done its work.
            _cookie(SIGNIN_COOKIE, "", 0, secure, f"{PREFIX}/sign-in"),
        ],
    )


def signed_out(secure: bool, cookie: str) -> Response:
    """The cookie erased, and back to the sign-in page."""
    return Response(
        303,
        headers=[(b"location", f"{PREFIX}/sign-in".encode()), _cookie(cookie, "", 0, secure)],
    )
