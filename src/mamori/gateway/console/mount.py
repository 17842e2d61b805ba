"""Putting the console on a listener: ``/console`` goes to the console, the rest to the API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from mamori.gateway.asgi import ASGIScope, Receive, Send

ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

# Where the console lives on a listener.
PREFIX = "/console"

_OFF = (
    b"The console is not served on this listener: it is on the HTTPS listener "
    b"(console_http = true serves it on plain HTTP too; docs/console.md).\n"
)


def _console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class WithConsole:
    """ASGI: ``/console…`` to ``console`` (or a plain 404 when it is off here), else ``api``."""

    def __init__(self, console: Any | None, api: Any) -> None:
        self._console = console
        self._api = api

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _console_path(scope["path"]):
            if self._console is not None:
                await self._console(scope, receive, send)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(_OFF)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _OFF})
            return
        await self._api(scope, receive, send)


class LazyConsole:
    """The console, built by ``build`` when its first request comes (in ``executor``, off the
    event loop): Jinja2, the templates and the pages cost a server start nothing, and a server
    nobody opens the console of (every ``mamori.testing`` one) never loads them."""

    def __init__(self, build: Callable[[], ASGIApp], executor: Executor) -> None:
        self._build = build
        self._executor = executor
        self._app: ASGIApp | None = None
        self._building = asyncio.Lock()

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if self._app is None:
            async with self._building:
                if self._app is None:
                    loop = asyncio.get_running_loop()
                    self._app = await loop.run_in_executor(self._executor, self._build)
        await self._app(scope, receive, send)
