"""STS: AssumeRole and GetCallerIdentity (API 2015-04-01)."""

from __future__ import annotations

from mamori.api.catalogue import Action

ACTIONS: tuple[Action, ...] = ()
