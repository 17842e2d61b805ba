"""The web console: server-rendered pages over the same catalogue and authorizer as the API.

Its names load on first use (PEP 562): the server imports ``mount`` on every start, and Jinja2 and
the pages only when the console is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mamori.gateway.console.app import ConsoleApp
    from mamori.gateway.console.mount import WithConsole
    from mamori.gateway.console.reveal import LoggedReveals, RecordedReveals, RevealAudit
    from mamori.gateway.console.sessions import SessionStore

__all__ = [
    "ConsoleApp",
    "LoggedReveals",
    "RecordedReveals",
    "RevealAudit",
    "SessionStore",
    "WithConsole",
]

_HOMES = {
    "ConsoleApp": "app",
    "WithConsole": "mount",
    "LoggedReveals": "reveal",
    "RecordedReveals": "reveal",
    "RevealAudit": "reveal",
    "SessionStore": "sessions",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(__import__(f"{__name__}.{home}", fromlist=[name]), name)
