"""The web console: server-rendered pages over the same catalogue and authorizer as the API."""

from __future__ import annotations

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
