"""RAM users, their AccessKeys, and groups (API 2015-05-01)."""

from __future__ import annotations

from mamori.api.catalogue import Action

ACTIONS: tuple[Action, ...] = ()
