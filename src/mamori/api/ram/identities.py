"""RAM users, their AccessKeys, and groups (API 2015-05-01)."""

from __future__ import annotations

from mamori.api.catalogue import Action
from mamori.api.ram import groups, users

ACTIONS: tuple[Action, ...] = (*users.ACTIONS, *groups.ACTIONS)
