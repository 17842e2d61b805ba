"""Key policies: resource policies stored per key (SetKeyPolicy/GetKeyPolicy) and compiled for
the authorizer, which asks for one on every key request of a RAM identity (so they are cached;
SetKeyPolicy invalidates)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from mamori.core.cache import LruCache
from mamori.core.errors import KeyNotFound
from mamori.core.invalidation import Invalidations
from mamori.core.model import POLICY_NAME
from mamori.iam.policy import Policy, parse_policy
from mamori.store import schema as t
from mamori.store.database import Database

DEFAULT_NAME = POLICY_NAME
MAX_LENGTH = 32768
"""Alibaba's limit on a key policy document, in characters."""


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """A key's owner and its compiled ``default`` policy (None when none was ever set)."""

    account_id: str
    policy: Policy | None


def default_document(account_id: str) -> str:
    """What GetKeyPolicy shows for a key without a policy: the account's administrator only,
    which adds nothing to what RAM grants (the same-account rule is identity OR key policy)."""
    statement = {
        "Sid": "Enable RAM User Permissions",
        "Effect": "Allow",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
        "Action": ["kms:*"],
        "Resource": ["*"],
    }
    return json.dumps({"Version": "1", "Statement": [statement]}, separators=(",", ":"))


def validate(document: str) -> Policy:
    """Compile a key policy; raises ``MalformedPolicy`` naming what is wrong."""
    return parse_policy(document, resource_policy=True, max_length=MAX_LENGTH)


class KeyPolicies:
    """Stores key policies and serves them compiled, from a bounded cache."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        cache_size: int,
        bus: Invalidations | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cache: LruCache[str, KeyPolicy] = LruCache(cache_size)
        self._bus = bus or Invalidations()
        self._bus.register(
            "key_policy", lambda args: self._cache.discard(args[0]), self._cache.clear
        )

    def set(self, key_id: str, document: str, name: str = DEFAULT_NAME) -> None:
        """SetKeyPolicy: validate, then replace the key's policy of that name."""
        validate(document)
        with self._db.begin() as conn:
            # The key's row, locked: a concurrent SetKeyPolicy waits (no duplicate-row race on
            # PostgreSQL) and a key deleted meanwhile is reported, not written to.
            found = conn.execute(
                select(t.keys.c.id).where(t.keys.c.id == key_id).with_for_update()
            ).first()
            if found is None:
                raise KeyNotFound
            where = (t.key_policies.c.key_id == key_id) & (t.key_policies.c.name == name)
            conn.execute(delete(t.key_policies).where(where))
            conn.execute(
                insert(t.key_policies).values(
                    key_id=key_id, name=name, document=document, updated_at=int(self._clock())
                )
            )
        self._bus.publish("key_policy", key_id)

    def document(self, key_id: str, name: str = DEFAULT_NAME) -> str | None:
        """GetKeyPolicy: the stored document, or None when none was set."""
        with self._db.read() as conn:
            text = conn.execute(
                select(t.key_policies.c.document).where(
                    t.key_policies.c.key_id == key_id, t.key_policies.c.name == name
                )
            ).scalar_one_or_none()
        return None if text is None else str(text)

    def lookup(self, key_id: str) -> KeyPolicy | None:
        """The key's owner and compiled policy; None when there is no such key."""
        return self._cache.get_or_load(key_id, self._load)

    def _load(self, key_id: str) -> KeyPolicy | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(t.keys.c.account_id, t.key_policies.c.document)
                .select_from(
                    t.keys.outerjoin(
                        t.key_policies,
                        (t.key_policies.c.key_id == t.keys.c.id)
                        & (t.key_policies.c.name == DEFAULT_NAME),
                    )
                )
                .where(t.keys.c.id == key_id)
            ).first()
        if row is None:
            return None
        # Stored documents were validated on the way in; compiling them cannot fail.
        policy = validate(row.document) if row.document is not None else None
        return KeyPolicy(row.account_id, policy)
