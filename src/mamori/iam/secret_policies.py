"""Secret policies: resource policies stored per secret (SetSecretPolicy/GetSecretPolicy) and
compiled for the authorizer, which combines them with identity policies as for key policies.

Lookups read the document from the secret's cached view (``core.secret_views``: forgotten on
every change in this process, at most a second old otherwise); compiling is cached by document
text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from mamori.core.secret_rows import SecretInDeleteWindow, SecretNotFound
from mamori.core.secret_views import SecretViews
from mamori.iam.key_policies import DEFAULT_NAME, validate
from mamori.iam.policy import Policy, parse_policy_cached
from mamori.store import schema as t
from mamori.store.database import Database

__all__ = ["DEFAULT_NAME", "SecretPolicies", "SecretPolicy"]


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """A secret's compiled ``default`` policy (None when none was ever set)."""

    policy: Policy | None


class SecretPolicies:
    """Stores secret policies and serves them compiled."""

    def __init__(self, db: Database, clock: Callable[[], float], views: SecretViews) -> None:
        self._db = db
        self._clock = clock
        # The cached views of secrets carry their policy documents.
        self._views = views

    def set(self, account_id: str, secret: str, document: str, name: str = DEFAULT_NAME) -> None:
        """SetSecretPolicy: validate, then replace the live secret's policy of that name."""
        validate(document)
        with self._db.begin() as conn:
            # The secret's row, locked: concurrent writers queue, and a secret deleted or
            # scheduled for deletion meanwhile is reported, not written to.
            found = conn.execute(
                select(t.secrets.c.planned_delete_at)
                .where(t.secrets.c.account_id == account_id, t.secrets.c.name == secret)
                .with_for_update()
            ).first()
            if found is None:
                raise SecretNotFound
            if found.planned_delete_at is not None:
                raise SecretInDeleteWindow
            where = (
                (t.secret_policies.c.account_id == account_id)
                & (t.secret_policies.c.secret_name == secret)
                & (t.secret_policies.c.name == name)
            )
            conn.execute(delete(t.secret_policies).where(where))
            conn.execute(
                insert(t.secret_policies).values(
                    account_id=account_id,
                    secret_name=secret,
                    name=name,
                    document=document,
                    updated_at=int(self._clock()),
                )
            )
        self._views.forget(account_id, secret)

    def document(self, account_id: str, secret: str, name: str = DEFAULT_NAME) -> str | None:
        """GetSecretPolicy: the stored document, or None when none was set."""
        with self._db.read() as conn:
            text = conn.execute(
                select(t.secret_policies.c.document).where(
                    t.secret_policies.c.account_id == account_id,
                    t.secret_policies.c.secret_name == secret,
                    t.secret_policies.c.name == name,
                )
            ).scalar_one_or_none()
        return None if text is None else str(text)

    def lookup(self, account_id: str, secret: str) -> SecretPolicy | None:
        """The secret's compiled policy; None when there is no such secret."""
        view = self._views.get(account_id, secret)
        if view is None:
            return None
        # Stored documents were validated on the way in; compiling them cannot fail.
        doc = view.policy
        return SecretPolicy(parse_policy_cached(doc, resource_policy=True) if doc else None)
