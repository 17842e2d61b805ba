"""RAM users, their AccessKeys, and groups (API 2015-05-01)."""

from __future__ import annotations

from mamori.api import ram_group_actions, ram_user_actions
from mamori.api.catalogue import Action

ACTIONS: tuple[Action, ...] = (*ram_user_actions.ACTIONS, *ram_group_actions.ACTIONS)
