"""The operator's routes on every listener (docs/operations.md): ``/health``, ``/ready`` and
``/metrics``, answered before any gateway sees the request, never audited.

* ``GET /health`` — liveness: 200 while the process serves; its body also says whether the
  audit log accepts records (a restart is what clears a failed audit log).
* ``GET /ready`` — readiness: 200 only when the store answers, the root of trust is open and
  the audit log accepts records; 503 naming what is not.
* ``GET /metrics`` — Prometheus text, only to peers within ``metrics_allow`` (loopback by
  default; the TCP peer, never a forwarded header): 403 to anyone else, 404 when it is empty.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mamori.gateway.asgi import ASGIScope, Receive, Send
from mamori.gateway.metrics import CONTENT_TYPE, Metrics
from mamori.gateway.trail import Trail

_JSON = b"application/json;charset=utf-8"
_OPS = frozenset(("/health", "/ready", "/metrics"))


class Ops:
    """ASGI: the operator's routes, else ``app``."""

    def __init__(
        self,
        app: Any,
        *,
        trail: Trail,
        audit_on: bool,
        checks: Callable[[], dict[str, str]],
        metrics: Metrics | None,
        metrics_allow: Sequence[str],
        executor: ThreadPoolExecutor,
    ) -> None:
        self._app = app
        self._trail = trail
        self._audit_on = audit_on
        self._checks = checks
        self._metrics = metrics
        self._allow = [ipaddress.ip_network(a, strict=False) for a in metrics_allow]
        self._executor = executor

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in _OPS or scope["method"] != "GET":
            await self._app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/health":
            body = {"Status": "ok", "Audit": self._audit_state()}
            await _send(send, 200, json.dumps(body).encode(), _JSON)
        elif path == "/ready":
            loop = asyncio.get_running_loop()
            state = await loop.run_in_executor(self._executor, self._checks)
            state["Audit"] = self._audit_state()
            ready = all(v in ("ok", "off") for v in state.values())
            body = {"Status": "ready" if ready else "unavailable", **state}
            await _send(send, 200 if ready else 503, json.dumps(body).encode(), _JSON)
        else:
            await self._serve_metrics(scope, send)

    def _audit_state(self) -> str:
        if not self._audit_on:
            return "off"
        failure = self._trail.failure
        return "ok" if failure is None else f"unavailable: {failure}"

    async def _serve_metrics(self, scope: ASGIScope, send: Send) -> None:
        if self._metrics is None or not self._allow:
            await _send(send, 404, b"metrics are off (metrics_allow is empty)\n", b"text/plain")
            return
        client = scope.get("client")
        try:
            address = ipaddress.ip_address(client[0] if client else "")
        except ValueError:
            address = None
        if address is None or not any(address in network for network in self._allow):
            await _send(send, 403, b"metrics are not served to this address\n", b"text/plain")
            return
        # This worker's requests of the current tick first (here, on the thread that counts
        # them); other workers fold theirs within their own tick.
        self._metrics.flush()
        loop = asyncio.get_running_loop()
        # Reading every worker's sample files is file I/O: off the event loop.
        body = await loop.run_in_executor(self._executor, self._metrics.exposition)
        await _send(send, 200, body, CONTENT_TYPE.encode())


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
