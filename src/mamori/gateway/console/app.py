"""The console as an ASGI application: sessions, CSRF, headers, routing; views do the rest.

Every request is checked in this order: who it is from and whether over TLS (the connection,
or a trusted proxy's ``X-Forwarded-*``); static files (public, vendored); for a POST, its
Origin; the sign-in page (its own token); then a live session (its AccessKey still Active);
for a POST, the CSRF token bound to the session; then the route. Views run in the API's
thread pool, as API actions do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from mamori.api.catalogue import Catalogue, Services
from mamori.api.errors import ApiError
from mamori.audit import Event
from mamori.core.refs import Scope
from mamori.gateway.asgi import ASGIScope, Receive, Send
from mamori.gateway.console import audit_trail, auth, identities, instances, keys, secrets
from mamori.gateway.console.calls import Caller
from mamori.gateway.console.headers import security_headers
from mamori.gateway.console.http import (
    Refused,
    Request,
    Response,
    peer,
    read_request,
    redirect,
    send_response,
)
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.pages import Page, Route, environment
from mamori.gateway.console.reveal import LoggedReveals, RecordedReveals, RevealAudit
from mamori.gateway.console.sessions import Session, Sessions, SessionsFull
from mamori.gateway.console.stored_sessions import StoredSessions
from mamori.gateway.console.throttle import FailedSignIns
from mamori.gateway.request_ids import RequestIds
from mamori.gateway.trail import Trail
from mamori.iam.access_keys import ACTIVE, AccessKeyService
from mamori.iam.authorize import Origin

log = logging.getLogger("mamori.console")

COOKIE = "mamori_console"
_STATIC = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_ROUTES: tuple[Route, ...] = (
    *keys.ROUTES,
    *secrets.ROUTES,
    *identities.ROUTES,
    *instances.ROUTES,
    *audit_trail.ROUTES,
)
_request_id = RequestIds().next


class ConsoleApp:
    """ASGI callable for ``/console`` (mounted by ``gateway.console.mount``)."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        services: Services,
        access_keys: AccessKeyService,
        region: str,
        executor: ThreadPoolExecutor,
        max_body_bytes: int,
        failures: FailedSignIns,
        sessions: Sessions | None = None,
        reveals: RevealAudit | None = None,
        trusted_proxies: Sequence[str] = (),
        trail: Trail | None = None,
        audit_dir: Path | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._services = services
        self._access_keys = access_keys
        self._region = region
        self._executor = executor
        self._max_body = max_body_bytes
        self._sessions: Sessions = sessions or StoredSessions(services.db)
        self._failures = failures
        self._reveals: RevealAudit = reveals or LoggedReveals()
        self._trail = trail
        self._audit_dir = audit_dir
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self._templates = environment()
        files = resources.files("mamori.gateway.console") / "static"
        self._static = {name: (files / name).read_bytes() for name in _STATIC}

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        who = peer(scope, self._proxies)
        secure = who.secure
        path: str = scope["path"]
        name = path.removeprefix(f"{PREFIX}/static/")
        if name != path and scope["method"] == "GET" and name in self._static:
            response = Response(200, self._static[name], _STATIC[name])
            await send_response(send, response, security_headers(static=True, secure=secure))
            return
        # Every POST changes something (or reveals a value): each is one audit record, durable
        # before its response. Pages that only show things are not recorded.
        event: Event | None = None
        if self._trail is not None and scope["method"] == "POST":
            event = Event("console", _request_id(), who.client_ip, secure)
            event.action, event.version = f"Console:{path.removeprefix(PREFIX)}", "console"
        try:
            if event is not None:
                _admit(self._trail)
            request = await read_request(scope, receive, self._max_body, who)
            loop = asyncio.get_running_loop()
            intend = _intend(self._trail, event, loop)
            response = await loop.run_in_executor(
                self._executor, self._handle, request, event, intend
            )
        except Refused as exc:
            response = self._refusal(exc)
        except Exception:
            log.exception("console request %s %s failed", scope["method"], path)
            response = self._refusal(Refused(500, "Something went wrong; see the server log."))
        if event is not None and self._trail is not None:
            response = await self._record(self._trail, event, response)
        await send_response(send, response, security_headers(static=False, secure=secure))

    async def _record(self, trail: Trail, event: Event, response: Response) -> Response:
        if response.status >= 400 and event.status == 200:
            event.code, event.status = f"Console.{response.status}", response.status
        try:
            await trail.finish(event)
        except ApiError:
            return self._refusal(_UNRECORDED)
        return response

    def _handle(
        self,
        request: Request,
        event: Event | None = None,
        intend: Callable[[], None] | None = None,
    ) -> Response:
        if request.method not in ("GET", "POST"):
            raise Refused(405, "Only GET and POST are served here.")
        if request.method == "POST":
            _same_origin(request)
        if request.path == f"{PREFIX}/sign-in":
            if event is not None:
                # The id tried, never the secret: failed sign-ins are evidence too.
                event.access_key_id = request.form.get("access_key_id", "").strip()

            def signed_in(access_key_id: str, principal_arn: str, secure: bool) -> Response:
                if event is not None:
                    event.access_key_id, event.principal = access_key_id, principal_arn
                return self._sign_in(access_key_id, principal_arn, secure)

            return auth.sign_in(
                request, self._templates, self._access_keys, self._failures, signed_in
            )
        session_id = request.cookies.get(COOKIE, "")
        session = self._live(session_id)
        if session is None:
            if request.method == "POST":
                raise Refused(401, "Sign in first: this request carries no live session.")
            return redirect(f"{PREFIX}/sign-in")
        if request.method == "POST" and not session.csrf_matches(request.form.get("csrf", "")):
            raise Refused(403, "The form's CSRF token is not this session's. Reload the page.")
        if request.path == f"{PREFIX}/sign-out" and request.method == "POST":
            self._sessions.end(session_id)
            return auth.signed_out(request.secure, COOKIE)
        if request.path in (PREFIX, f"{PREFIX}/"):
            return redirect(f"{PREFIX}/keys")
        page = self._page(request, session, event, intend)
        try:
            return self._route(request, page)
        finally:
            # A message for the next page lives where that page may be served.
            self._sessions.keep_flash(session_id, session.flash)

    def _route(self, request: Request, page: Page) -> Response:
        for candidate in _ROUTES:
            if candidate.method != request.method:
                continue
            match = candidate.pattern.fullmatch(request.path)
            if match is not None:
                try:
                    return candidate.view(page, **match.groupdict())
                except ApiError as exc:
                    return page.failed(exc)
        raise Refused(404, "There is no such console page.")

    def _sign_in(self, access_key_id: str, principal_arn: str, secure: bool) -> Response:
        try:
            session_id, _ = self._sessions.create(access_key_id, principal_arn)
        except SessionsFull:
            raise Refused(
                503,
                "The console has as many sessions as it can keep; nobody is signed out to make "
                "room. Try again when some have ended (15 minutes without use ends one).",
            ) from None
        return auth.signed_in(session_id, secure, COOKIE, int(self._sessions.max_age_seconds))

    def _live(self, session_id: str) -> Session | None:
        """The session, if its AccessKey is still there and Active: disabling or deleting the
        key ends every session made with it on the next request (the lookup cache is dropped
        by the same invalidation that stops the key signing API requests)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        entry = self._access_keys.lookup(session.access_key_id)
        if entry is None or entry.status != ACTIVE:
            self._sessions.end_for_key(session.access_key_id)
            return None
        return session

    def _page(
        self,
        request: Request,
        session: Session,
        event: Event | None,
        intend: Callable[[], None] | None = None,
    ) -> Page:
        entry = self._access_keys.lookup(session.access_key_id)
        assert entry is not None  # checked by _live a moment ago
        principal = entry.principal
        reveals = self._reveals
        if event is not None:
            event.account, event.principal = principal.account_id, principal.arn
            event.access_key_id = session.access_key_id
            reveals = RecordedReveals(event)
        caller = Caller(
            self._catalogue,
            self._services,
            principal,
            Scope(self._region, principal.account_id),
            Origin(request.client_ip, request.secure),
            event,
            intend,
        )
        return Page(request, session, caller, self._templates, reveals, self._audit_dir)

    def _refusal(self, exc: Refused) -> Response:
        body = self._templates.get_template("refused.html").render(
            prefix=PREFIX, status=exc.status, reason=exc.reason
        )
        return Response(exc.status, body.encode())


_UNRECORDED = Refused(
    503,
    "The audit log cannot record this request (Rejected.AuditUnavailable); nothing is shown "
    "until it can. See the server log.",
)


def _intend(
    trail: Trail | None, event: Event | None, loop: asyncio.AbstractEventLoop
) -> Callable[[], None] | None:
    """For the executor thread a POST runs on: make the event's intent record durable on the
    loop (where the audit log lives) and wait for it, before an action changes anything."""
    if trail is None or event is None:
        return None

    def intend() -> None:
        asyncio.run_coroutine_threadsafe(trail.intend(event), loop).result()

    return intend


def _admit(trail: Trail | None) -> None:
    if trail is None:
        return
    try:
        trail.admit()
    except ApiError:
        raise _UNRECORDED from None


def _same_origin(request: Request) -> None:
    """Every POST (sign-in included) must show that it comes from the console's own pages:
    ``Sec-Fetch-Site: same-origin``, or an ``Origin`` equal to the console's. A browser sends
    no ``Sec-Fetch-*`` to a plain-HTTP origin that is not localhost, and under the console's
    ``Referrer-Policy: same-origin`` its own forms carry their real Origin; a post that carries
    neither, or says another site or another origin (``null`` included), is refused. Defence in
    depth under the CSRF tokens and SameSite=Strict."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site != "same-origin":
        raise Refused(403, "Cross-site form posts are refused.")
    scheme = "https" if request.secure else "http"
    own = f"{scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own and not (origin == "null" and site is not None):
        raise Refused(403, "Cross-origin form posts are refused.")
    if site is None and origin != own:
        raise Refused(403, "Form posts must come from the console's own pages (no Origin says so).")
