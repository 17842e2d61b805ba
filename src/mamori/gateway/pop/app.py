"""The shared gateway as a bare ASGI application: HTTP in, signature checked, action dispatched
through the catalogue, Alibaba-shaped JSON out.

A framework router costs a quarter of the throughput on this path (DESIGN §9), and the
gateway serves exactly one route (``/health`` and the other operator's routes are answered in
front of it: gateway/ops.py), so it speaks ASGI directly; uvicorn does the HTTP parsing.

Every request is reported to the trail (gateway/trail.py): refused before it acts once the
audit log has failed, run only after its intent record is durable when it changes state, and
answered only after its audit record is durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from mamori.api.catalogue import Action, Catalogue, Result, Services
from mamori.api.dispatch import execute, invoke, prepare
from mamori.api.errors import ApiError
from mamori.audit import Event
from mamori.core.errors import DomainError
from mamori.core.hsm_keys import OnEventLoop
from mamori.core.refs import Scope
from mamori.gateway.asgi import ASGIScope, ClientGone, Receive, Send, read_body
from mamori.gateway.pop.answer import encode_answer
from mamori.gateway.pop.nonces import ReplayGuard
from mamori.gateway.pop.request import PopRequest, parse_pop_request, refuse_foreign_body
from mamori.gateway.pop.signature import (
    Claim,
    check_freshness,
    check_scope,
    read_claim,
    verify,
)
from mamori.gateway.request_ids import RequestIds
from mamori.gateway.trail import Trail
from mamori.iam.access_keys import ACTIVE, AccessKeyService
from mamori.iam.authorize import Origin
from mamori.iam.principal import Principal
from mamori.iam.sts import ACCESS_KEY_PREFIX, LiveRoles, TokenService

log = logging.getLogger("mamori.gateway")


_JSON = [(b"content-type", b"application/json;charset=utf-8")]


_request_id = RequestIds().next


class PopGateway:
    """ASGI callable for the shared gateway (plain and TLS listeners share one instance)."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        services: Services,
        access_keys: AccessKeyService,
        tokens: TokenService,
        live_roles: LiveRoles,
        region: str,
        nonces: ReplayGuard,
        executor: ThreadPoolExecutor,
        token_executor: ThreadPoolExecutor,
        max_body_bytes: int,
        host_id: str,
        trail: Trail,
        clock: Callable[[], float] = time.time,
        refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self._catalogue = catalogue
        self._versions = catalogue.versions()
        self._services = services
        self._access_keys = access_keys
        self._tokens = tokens
        self._live_roles = live_roles
        self._region = region
        self._nonces = nonces
        self._executor = executor
        self._token_executor = token_executor
        self._max_body = max_body_bytes
        self._host_id = host_id
        self._clock = clock
        self._trail = trail
        # Applies what this node's other workers changed, before any cache is read.
        self._refresh = refresh

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = _request_id()
        event = self._trail.begin("pop", scope, request_id)
        try:
            self._trail.admit()
            body = await read_body(scope, receive, self._max_body, self._too_large)
            result = event.result = await self._handle(scope, body, event)
            result = {"RequestId": request_id, **result}
            status = 200
        except ClientGone:
            return
        except ApiError as exc:
            status, result = exc.status, self._error(exc, request_id)
            event.code, event.status = exc.code, status
        except Exception:
            log.exception("request %s failed", request_id)
            failure = ApiError("InternalFailure")
            status, result = failure.status, self._error(failure, request_id)
            event.code, event.status = failure.code, status
        try:
            # The response leaves only once its audit record is durable.
            await self._trail.finish(event)
        except ApiError as exc:
            status, result = exc.status, self._error(exc, request_id)
        payload = encode_answer(result)
        await self._respond(send, status, payload, request_id)

    @property
    def replay_horizon(self) -> int | None:
        """Requests signed before this instant are refused (``ReplayGuard.horizon``): serve
        only once it has passed."""
        return self._nonces.horizon

    def _too_large(self) -> ApiError:
        return ApiError("RequestTooLarge", limit=self._max_body)

    def _error(self, exc: ApiError, request_id: str) -> Result:
        return {
            "RequestId": request_id,
            "HostId": self._host_id,
            "Code": exc.code,
            "Message": exc.message,
            "Recommend": f"See docs/errors.md#{exc.code.lower().replace('.', '')}",
        }

    def error_body(self, exc: ApiError) -> bytes:
        """The JSON body of ``exc`` with a fresh request id, for answers made outside a request
        (the HTTP layer's 431)."""
        return json.dumps(self._error(exc, _request_id()), separators=(",", ":")).encode()

    async def _handle(self, scope: ASGIScope, body: bytes, event: Event) -> Result:
        method = scope["method"]
        if method not in ("GET", "POST"):
            raise ApiError("UnsupportedHTTPMethod")
        if scope["path"] != "/":
            raise ApiError("InvalidAction.NotFound")
        req = parse_pop_request(method, "/", scope["query_string"], scope["headers"], body)
        self._refresh()
        event.params = req.params
        action, principal, claim, now = self._authenticate(req, event)
        refuse_foreign_body(req)
        if self._nonces.log is not None:
            await self._nonces.remember_everywhere(
                claim.access_key_id, claim.nonce, claim.timestamp.timestamp(), now
            )
        transport = claim.transport_parameters
        raw = req.params
        account_scope = Scope(self._region, principal.account_id)
        client = scope.get("client")
        origin = Origin(client[0] if client else "", scope.get("scheme") == "https")
        executor = self._executor
        if not action.read_only:
            return await self._act(action, principal, account_scope, raw, origin, transport, event)
        if action.inline:
            try:
                return invoke(
                    action, principal, account_scope, self._services, raw, origin, transport
                )
            except OnEventLoop:
                # The key lives in a token, whose one session serialises every call: such
                # requests queue for threads of their own, never the loop or the API's pool.
                executor = self._token_executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            executor,
            invoke,
            action,
            principal,
            account_scope,
            self._services,
            raw,
            origin,
            transport,
        )

    async def _act(
        self,
        action: Action,
        principal: Principal,
        account_scope: Scope,
        raw: Mapping[str, str],
        origin: Origin,
        transport: Collection[str],
        event: Event,
    ) -> Result:
        """A state-changing action: checked and authorized, then its intent record made
        durable, and only then run; an intent that cannot be written stops it here
        (``Rejected.AuditUnavailable``), before it has done anything."""
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._executor,
            prepare,
            action,
            principal,
            account_scope,
            self._services,
            raw,
            origin,
            transport,
        )
        await self._trail.intend(event)
        return await loop.run_in_executor(self._executor, execute, prepared)

    def _authenticate(
        self, req: PopRequest, event: Event
    ) -> tuple[Action, Principal, Claim, float]:
        claim = read_claim(req)
        event.action, event.version = claim.action, claim.version
        event.access_key_id = claim.access_key_id
        if claim.version not in self._versions:
            raise ApiError("InvalidVersion")
        action = self._catalogue.get(claim.version, claim.action)
        if action is None or req.method not in action.methods:
            raise ApiError("InvalidAction.NotFound")
        check_scope(claim, self._region, action.service)
        now = self._clock()
        check_freshness(claim, datetime.fromtimestamp(now, UTC))
        if claim.security_token is not None:
            principal = self._temporary(claim, req, now)
        elif claim.access_key_id.startswith(ACCESS_KEY_PREFIX):
            raise ApiError("MissingSecurityToken")
        else:
            entry = self._access_keys.lookup(claim.access_key_id)
            if entry is None:
                raise ApiError("InvalidAccessKeyId.NotFound")
            verify(claim, req, entry.secret)
            # Only after the signature: told to anyone, it would confirm that a key exists.
            if entry.status != ACTIVE:
                raise ApiError("InvalidAccessKeyId.Inactive")
            principal = entry.principal
        self._nonces.remember_here(
            claim.access_key_id, claim.nonce, claim.timestamp.timestamp(), now
        )
        event.account, event.principal = principal.account_id, principal.arn
        return action, principal, claim, now

    def _temporary(self, claim: Claim, req: PopRequest, now: float) -> Principal:
        """STS credentials: the token is checked by its own MAC (no AccessKey lookup) and yields
        the secret the request must be signed with; the role must still exist."""
        token = claim.security_token or ""
        try:
            session, secret = self._tokens.verify(token, claim.access_key_id, now)
            verify(claim, req, secret)
            self._live_roles.ensure(session)
        except DomainError as exc:
            raise ApiError(exc.code, **exc.fields) from None
        return session.principal

    async def _respond(self, send: Send, status: int, payload: bytes, request_id: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *_JSON,
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-acs-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
