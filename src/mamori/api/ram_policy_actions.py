"""RAM roles, policies, policy versions and attachments (API 2015-05-01)."""

from __future__ import annotations

from mamori.api.catalogue import Action

ACTIONS: tuple[Action, ...] = ()
