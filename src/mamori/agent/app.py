"""The agent's HTTP interface as a bare ASGI application (uvicorn parses HTTP).

Every request passes the same checks in a fixed order, as the AWS agent's do: the connection
limit (429), ``/ping`` (no token needed), any ``X-Forwarded-For`` (400), the SSRF token (403),
the method (405), then the route (404 when none). A framework router would cost a good part
of the cached-read throughput for five routes (docs/agent.md, "Performance").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from mamori.agent.config import AgentConfig
from mamori.agent.data_keys import DataKeys, KeyNotEnabled
from mamori.agent.errors import AgentError
from mamori.agent.responses import render_error, render_json
from mamori.agent.secret_cache import Key, SecretCache
from mamori.agent.upstream import UpstreamError
from mamori.crypto import envelope as fmt

log = logging.getLogger("mamori.agent")

ASGIScope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PING: Final = "/ping"
QUERY_ROUTE: Final = "/secretsmanager/get"
STATS_ROUTE: Final = "/mamori/stats"
ENCRYPT_ROUTE: Final = "/v1/envelope/encrypt"
DECRYPT_ROUTE: Final = "/v1/envelope/decrypt"
CACHE_HEADER: Final = b"x-mamori-cache"
# Secret names are at most 192 characters; a query holds little more than one.
MAX_SECRET_ID: Final = 192
MAX_QUERY_BYTES: Final = 2048
# /ping keeps working for two health checkers when the connection limit is reached.
PING_HEADROOM: Final = 2

_JSON: Final = (b"content-type", b"application/json")
_ANSWER_HEADERS: Final = {
    state: [_JSON, (CACHE_HEADER, state.encode())] for state in ("hit", "miss", "stale")
}
_PLAIN: Final = [(b"content-type", b"text/plain")]
_CLOSE: Final = (b"connection", b"close")
_PATH_PARAMS: Final = frozenset({"versionId", "versionStage", "refreshNow"})
_QUERY_PARAMS: Final = _PATH_PARAMS | {"secretId"}
_ENCRYPT_FIELDS: Final = frozenset({"KeyId", "Plaintext", "EncryptionContext"})
_DECRYPT_FIELDS: Final = frozenset({"CiphertextBlob", "EncryptionContext"})


class AgentApp:
    """ASGI callable for ``mamori agent``."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        token: str,
        secrets: SecretCache,
        data_keys: DataKeys,
        connections: Callable[[], int] = lambda: 0,
    ) -> None:
        self._config = config
        self._token = token.encode("ascii")
        self._token_headers = frozenset(h.lower().encode("ascii") for h in config.ssrf_headers)
        self._prefix = config.path_prefix
        self._type = config.response_type
        self._secrets = secrets
        self._data_keys = data_keys
        self._envelope = bool(config.envelope_keys)
        self._max_plaintext = config.envelope_max_plaintext_bytes
        # Base64 of the largest plaintext, with room for the envelope and its context.
        self._max_body = (self._max_plaintext + 64 * 1024) * 4 // 3
        self.connections = connections
        self._started = time.monotonic()

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        try:
            self._check_connections(path)
            if path == PING:
                if scope["method"] != "GET":
                    raise AgentError("MethodNotAllowed", method=scope["method"])
                await _send(send, 200, b"healthy", _PLAIN)
                return
            self._check_caller(scope["headers"])
            status, body, headers = await self._route(scope, receive, path)
        except AgentError as exc:
            status, body = exc.status, render_error(self._type, exc.code, exc.message)
            headers = [_JSON, _CLOSE] if exc.code == "ConnectionLimitExceeded" else [_JSON]
        except UpstreamError as exc:
            status, body = exc.status, render_error(self._type, exc.code, exc.message)
            headers = [_JSON]
        except Exception as exc:
            # The type only: a message could quote a value.
            log.error("request failed: %s", type(exc).__name__)
            failure = AgentError("InternalFailure")
            status, body = failure.status, render_error(self._type, failure.code, failure.message)
            headers = [_JSON]
        await _send(send, status, body, headers)

    def _check_connections(self, path: str) -> None:
        limit = self._config.max_conn + (PING_HEADROOM if path == PING else 0)
        if self.connections() > limit:
            raise AgentError("ConnectionLimitExceeded")

    def _check_caller(self, headers: list[tuple[bytes, bytes]]) -> None:
        forwarded = False
        authorized = False
        for name, value in headers:
            if name == b"x-forwarded-for":
                forwarded = True
            elif name in self._token_headers and hmac.compare_digest(value, self._token):
                authorized = True
        if forwarded:
            raise AgentError("Forwarded")
        if not authorized:
            raise AgentError("BadToken")

    async def _route(
        self, scope: ASGIScope, receive: Receive, path: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        method: str = scope["method"]
        if method == "POST" and path in (ENCRYPT_ROUTE, DECRYPT_ROUTE):
            request = await self._read_json(scope, receive)
            if path == ENCRYPT_ROUTE:
                return 200, await self._encrypt(request), [_JSON]
            return 200, await self._decrypt(request), [_JSON]
        if method != "GET":
            raise AgentError("MethodNotAllowed", method=method)
        if path == QUERY_ROUTE:
            params = _query(scope["query_string"], _QUERY_PARAMS)
            name = params.get("secretId")
            if name is None:
                raise AgentError("MissingParameter", name="secretId")
            return await self._secret(name, params)
        if path == STATS_ROUTE:
            return 200, render_json(self.stats()), [_JSON]
        if path.startswith(self._prefix):
            name = path[len(self._prefix) :]
            if not name:
                raise AgentError("MissingParameter", name="secretId")
            raw = scope["query_string"]
            return await self._secret(name, _query(raw, _PATH_PARAMS) if raw else {})
        raise AgentError("NotFound")

    async def _secret(
        self, name: str, params: dict[str, str]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if len(name) > MAX_SECRET_ID:
            raise AgentError("InvalidParameter", detail=f"secretId is longer than {MAX_SECRET_ID}")
        key: Key = (name, params.get("versionId"), params.get("versionStage"))
        refresh = _refresh_now(params.get("refreshNow"))
        body, state = await self._secrets.get(key, refresh)
        return 200, body, _ANSWER_HEADERS[state]

    async def _read_json(self, scope: ASGIScope, receive: Receive) -> dict[str, Any]:
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self._max_body):
                raise AgentError("RequestTooLarge", limit=self._max_body)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise AgentError("RequestTooLarge", limit=self._max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            request = json.loads(b"".join(chunks), object_pairs_hook=_object)
        except _RepeatedName as exc:
            raise AgentError("InvalidParameter", detail=str(exc)) from None
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: nesting deeper than the reader's stack (the body cap allows it).
            raise AgentError("InvalidParameter", detail="The body is not JSON.") from None
        if not isinstance(request, dict):
            raise AgentError("InvalidParameter", detail="The body must be a JSON object.")
        return request

    async def _encrypt(self, request: dict[str, Any]) -> bytes:
        _known_fields(request, _ENCRYPT_FIELDS)
        key_id = _text_field(request, "KeyId")
        plaintext = _base64_field(request, "Plaintext")
        if len(plaintext) > self._max_plaintext:
            raise AgentError(
                "InvalidParameter", detail=f"Plaintext is longer than {self._max_plaintext} bytes."
            )
        context = _context_field(request)
        key = self._config.envelope_key(key_id)
        if key is None:
            raise AgentError("Forbidden.EnvelopeNotEnabled", what=f"KeyId {key_id}")
        blob = await self._data_keys.encrypt(key, context, plaintext)
        return render_json({"KeyId": key_id, "CiphertextBlob": base64.b64encode(blob).decode()})

    async def _decrypt(self, request: dict[str, Any]) -> bytes:
        _known_fields(request, _DECRYPT_FIELDS)
        blob = _base64_field(request, "CiphertextBlob")
        context = _context_field(request)
        if not self._envelope:
            raise AgentError("Forbidden.EnvelopeNotEnabled", what="any key")
        try:
            plaintext = await self._data_keys.decrypt(blob, context)
        except (fmt.MalformedEnvelope, fmt.DecryptionFailed):
            raise AgentError("InvalidCiphertext") from None
        except KeyNotEnabled:
            raise AgentError(
                "Forbidden.EnvelopeNotEnabled", what="the key of this envelope"
            ) from None
        return render_json({"Plaintext": base64.b64encode(plaintext).decode()})

    def stats(self) -> dict[str, Any]:
        """Counters only: no secret name, value or key."""
        cache = self._secrets.counters
        envelope = self._data_keys.counters
        encrypting, decrypting = self._data_keys.sizes()
        return {
            "UptimeSeconds": round(time.monotonic() - self._started, 3),
            "Connections": self.connections(),
            "Secrets": {
                "Cached": len(self._secrets),
                "Hits": cache.hits,
                "Misses": cache.misses,
                "StaleServed": cache.stale,
                "UpstreamCalls": cache.upstream_calls,
                "UpstreamErrors": cache.upstream_errors,
            },
            "Envelope": {
                "Enabled": self._envelope,
                "Encrypts": envelope.encrypts,
                "Decrypts": envelope.decrypts,
                "GenerateDataKeyCalls": envelope.generate_data_key_calls,
                "DecryptCalls": envelope.decrypt_calls,
                "EncryptKeyReuses": envelope.encrypt_key_reuses,
                "DecryptKeyReuses": envelope.decrypt_key_reuses,
                "DataKeysRetired": envelope.data_keys_retired,
                "CachedEncryptionKeys": encrypting,
                "CachedDecryptionKeys": decrypting,
            },
        }


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _query(raw: bytes, allowed: frozenset[str]) -> dict[str, str]:
    """The query's parameters: each known, each once, none empty."""
    if len(raw) > MAX_QUERY_BYTES:
        raise AgentError("InvalidParameter", detail="The query string is too long.")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise AgentError("InvalidParameter", detail="The query string is malformed.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise AgentError("InvalidParameter", detail=f"Unknown parameter: {name[:64]}")
        if name in params:
            raise AgentError("InvalidParameter", detail=f"The parameter {name} is repeated.")
        if not value:
            raise AgentError("InvalidParameter", detail=f"The parameter {name} is empty.")
        params[name] = value
    return params


class _RepeatedName(ValueError):
    """A JSON object names a member twice."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are all different: JSON readers disagree about which of two
    equal names counts (Python's keeps the last), so whatever checked a request before the
    agent may have read another field or EncryptionContext than the agent would."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for name, _value in pairs:
            if name in seen:
                raise _RepeatedName(f"The name {name[:64]!r} is given twice in one JSON object.")
            seen.add(name)
    return found


def _refresh_now(value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise AgentError("InvalidParameter", detail="refreshNow must be true or false.")


def _known_fields(request: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in request:
        if name not in allowed:
            raise AgentError("InvalidParameter", detail=f"Unknown field: {str(name)[:64]}")


def _text_field(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if value is None or value == "":
        raise AgentError("MissingParameter", name=name)
    if not isinstance(value, str) or len(value) > 256:
        raise AgentError("InvalidParameter", detail=f"{name} must be a string of 1–256 characters.")
    return value


def _base64_field(request: dict[str, Any], name: str) -> bytes:
    value = request.get(name)
    if value is None:
        raise AgentError("MissingParameter", name=name)
    if not isinstance(value, str):
        raise AgentError("InvalidParameter", detail=f"{name} must be a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AgentError("InvalidParameter", detail=f"{name} is not valid base64.") from None


def _context_field(request: dict[str, Any]) -> bytes:
    value = request.get("EncryptionContext")
    if value is None:
        return b""
    if not isinstance(value, dict):
        raise AgentError("InvalidParameter", detail="EncryptionContext must be a JSON object.")
    try:
        return fmt.context_json(value)
    except ValueError as exc:
        raise AgentError("InvalidParameter", detail=f"EncryptionContext: {exc}.") from None
