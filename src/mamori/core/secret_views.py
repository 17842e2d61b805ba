"""What GetSecretValue needs of one secret, read in one go and cached: the record, its stages, its
staged versions (still sealed) and its secret policy. Values are opened per request, so the
cache holds no secret in the clear and a disabled key stops retrieval at once.

Writers forget a secret's view after they commit, on every node (``core.invalidation``). A
view also expires after ``TTL`` seconds, which bounds how long a change can go unseen when a
node misses that message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, select

from mamori.core.cache import LruCache
from mamori.core.invalidation import Invalidations
from mamori.core.model import POLICY_NAME
from mamori.core.secret_rows import Secret, stages_of
from mamori.store import schema as t
from mamori.store.database import Database

TTL: Final = 1.0


@dataclass(frozen=True, slots=True)
class SealedVersion:
    """One stored version, its value still a CiphertextBlob."""

    version_id: str
    blob: str
    data_type: str
    created_at: int
    stages: list[str]


@dataclass(frozen=True, slots=True)
class SecretView:
    """A secret and its staged versions as of ``loaded_at`` (monotonic seconds)."""

    secret: Secret
    holders: dict[str, str]  # stage → version id
    versions: dict[str, SealedVersion]  # staged versions by id
    policy: str | None  # the ``default`` secret policy document
    loaded_at: float


def _load(conn: Connection, account_id: str, name: str) -> SecretView | None:
    found = conn.execute(
        select(t.secrets).where(t.secrets.c.account_id == account_id, t.secrets.c.name == name)
    ).first()
    if found is None:
        return None
    stages = stages_of(conn, account_id, name)
    rows = conn.execute(
        select(t.secret_versions).where(
            t.secret_versions.c.account_id == account_id,
            t.secret_versions.c.secret_name == name,
            t.secret_versions.c.version_id.in_(list(stages)),
        )
    ).all()
    versions = {
        r.version_id: SealedVersion(
            r.version_id, r.wrapped_value, r.secret_data_type, r.created_at, stages[r.version_id]
        )
        for r in rows
    }
    holders = {stage: vid for vid, names in stages.items() for stage in names}
    policy = conn.execute(
        select(t.secret_policies.c.document).where(
            t.secret_policies.c.account_id == account_id,
            t.secret_policies.c.secret_name == name,
            t.secret_policies.c.name == POLICY_NAME,
        )
    ).scalar_one_or_none()
    return SecretView(Secret.from_row(found), holders, versions, policy, time.monotonic())


class SecretViews:
    """A bounded cache of views, keyed by (account, name)."""

    def __init__(self, db: Database, capacity: int, bus: Invalidations | None = None) -> None:
        self._db = db
        self._cache: LruCache[tuple[str, str], SecretView] = LruCache(capacity, "secret")
        self._bus = bus or Invalidations()
        self._bus.register(
            "secret", lambda args: self._cache.discard((args[0], args[1])), self._cache.clear
        )

    def get(self, account_id: str, name: str) -> SecretView | None:
        """The secret's view (None when there is no such secret)."""
        key = (account_id, name)
        view = self._cache.get(key)
        if view is not None and time.monotonic() - view.loaded_at <= TTL:
            return view

        def load(k: tuple[str, str]) -> SecretView | None:
            with self._db.read() as conn:
                return _load(conn, *k)

        return (
            self._cache.reload(key, load)
            if view is not None
            else self._cache.get_or_load(key, load)
        )

    def forget(self, account_id: str, name: str) -> None:
        """Drop a secret's view (after a committed change to it), on every node."""
        self._bus.publish("secret", account_id, name)
