"""Rotation of managed secrets (Rds, RAMCredentials), whose credentials live outside Mamori, in
three steps, so that neither a failure nor a crash leaves ACSCurrent on credentials that do not
work:

1. prepare: the next value is computed and stored as a new version that holds only the
   ``MamoriPending`` stage (one transaction, secret row locked);
2. apply: the credentials are changed where they live (a database password, an AccessKey) and
   checked; when the change itself fails but the new credentials already work, an earlier
   attempt got that far before it crashed, and the rotation goes on;
3. finish: ACSCurrent moves to the pending version, the old one becomes ACSPrevious, and the
   rotation dates move (one transaction).

A failure in step 2 leaves ACSCurrent untouched; the next attempt resumes the same pending
version. Automatic rotation claims a due secret by pushing its next date ``RETRY_DELAY``
ahead first, so two nodes do not rotate it together and a failed attempt is retried then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select, update

from mamori.core.crypto_ops import CryptoService
from mamori.core.errors import DomainError, InvalidInput
from mamori.core.refs import Scope
from mamori.core.secret_rows import (
    CURRENT,
    PREVIOUS,
    Secret,
    SecretInDeleteWindow,
    claim_due,
    context,
    drop_stage,
    has_version,
    holder,
    insert_version,
    row,
    set_stage,
    tag_id,
)
from mamori.store import schema as t
from mamori.store.database import Database

PENDING = "MamoriPending"
RETRY_DELAY = 300

log = logging.getLogger("mamori.secrets")


class RotationFailed(DomainError):
    """The credentials could not be changed; ACSCurrent still holds the old ones."""

    code = "Rejected.RotationFailed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


@dataclass(frozen=True, slots=True)
class Values:
    """The opened values a rotation works from."""

    current: bytes
    previous: bytes | None


class ManagedType(Protocol):
    """What one managed secret type knows about its credentials."""

    def initial(self, scope: Scope, config: dict[str, Any], data: bytes, now: int) -> list[bytes]:
        """CreateSecret: check the ExtendedConfig and SecretData; the values of the first
        versions (ACSCurrent, then optionally ACSPrevious)."""
        ...

    def next_value(self, secret: Secret, config: dict[str, Any], values: Values, now: int) -> bytes:
        """The value the rotation will install (computed only: nothing changes yet)."""
        ...

    def in_effect(self, secret: Secret, config: dict[str, Any], value: bytes) -> bool:
        """Whether ``value``'s credentials already work."""
        ...

    def apply(self, secret: Secret, config: dict[str, Any], value: bytes, values: Values) -> None:
        """Make ``value``'s credentials work; raises RotationFailed."""
        ...

    def grace(self, config: dict[str, Any]) -> int | None:
        """Seconds after a rotation until the replaced credentials are retired (None: never)."""
        ...

    def retire(self, secret: Secret, config: dict[str, Any], replaced: bytes) -> None:
        """Retire the credentials a rotation replaced (now ACSPrevious)."""
        ...


def config_of(secret: Secret) -> dict[str, Any]:
    """A managed secret's ExtendedConfig (validated when the secret was created)."""
    try:
        config = json.loads(secret.extended_config or "{}")
    except ValueError:
        config = {}
    return config if isinstance(config, dict) else {}


def parse_config(text: str | None) -> dict[str, Any]:
    """CreateSecret's ExtendedConfig for a managed type: a JSON object is required."""
    try:
        config = json.loads(text or "")
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise InvalidInput("ExtendedConfig", "Managed secrets need an ExtendedConfig object.")
    return config


Changing = Callable[[str, str], AbstractContextManager[Connection]]


class ManagedRotation:
    """Runs the three steps for the managed types it was given."""

    def __init__(
        self,
        db: Database,
        crypto: CryptoService,
        types: dict[str, ManagedType],
        changing: Changing,
    ) -> None:
        self._db = db
        self._crypto = crypto
        self.types = types
        # A write transaction on one secret that also drops the secret's cached view.
        self._changing = changing

    def _open(self, scope: Scope, name: str, version_id: str) -> bytes:
        with self._db.read() as conn:
            blob = conn.execute(
                select(t.secret_versions.c.wrapped_value).where(
                    t.secret_versions.c.account_id == scope.account_id,
                    t.secret_versions.c.secret_name == name,
                    t.secret_versions.c.version_id == version_id,
                )
            ).scalar_one()
        return self._crypto.decrypt(scope, blob, context(name, version_id)).plaintext

    def seal(self, scope: Scope, secret: Secret, version_id: str, data: bytes) -> str:
        """The stored form of one version's value."""
        return self._crypto.encrypt(
            scope, secret.encryption_key_id, data, context(secret.name, version_id)
        ).blob

    def rotate(self, secret: Secret, version_id: str, now: int) -> str:
        """Rotate now; returns the version that became ACSCurrent: the pending one if a
        rotation was already under way, else ``version_id`` (a no-op when that version exists).
        Raises RotationFailed."""
        kind = self.types[secret.secret_type]
        config = config_of(secret)
        scope = Scope("", secret.account_id)
        with self._db.read() as conn:
            pending = holder(conn, secret.account_id, secret.name, PENDING)
            if pending is None and has_version(conn, secret.account_id, secret.name, version_id):
                return version_id  # a repeated request for a finished rotation
        if pending is None:
            pending = self._prepare(scope, secret, kind, config, version_id, now)
        value = self._open(scope, secret.name, pending)
        try:
            kind.apply(secret, config, value, self._values(scope, secret.name))
        except RotationFailed:
            # An attempt that crashed after changing the credentials left the old ones
            # unusable for logging in; the new ones working means that step is done.
            if not kind.in_effect(secret, config, value):
                raise
        if not kind.in_effect(secret, config, value):
            raise RotationFailed("the new credentials do not work")
        self._finish(secret, kind, config, pending, now)
        return pending

    def _values(self, scope: Scope, name: str) -> Values:
        with self._db.read() as conn:
            current = holder(conn, scope.account_id, name, CURRENT)
            previous = holder(conn, scope.account_id, name, PREVIOUS)
        if current is None:
            raise RotationFailed("the secret has no ACSCurrent version")
        return Values(
            self._open(scope, name, current),
            self._open(scope, name, previous) if previous is not None else None,
        )

    def _prepare(
        self,
        scope: Scope,
        secret: Secret,
        kind: ManagedType,
        config: dict[str, Any],
        version_id: str,
        now: int,
    ) -> str:
        data = kind.next_value(secret, config, self._values(scope, secret.name), now)
        blob = self.seal(scope, secret, version_id, data)
        with self._changing(secret.account_id, secret.name) as conn:
            locked = row(conn, secret.account_id, secret.name, lock=True)
            if locked.planned_delete_at is not None:
                raise SecretInDeleteWindow
            pending = holder(conn, secret.account_id, secret.name, PENDING)
            if pending is not None:
                return pending  # another node prepared one meanwhile
            if has_version(conn, secret.account_id, secret.name, version_id):
                return version_id  # the same request, finished meanwhile by another node
            insert_version(conn, locked, version_id, blob, now)
            set_stage(conn, secret.account_id, secret.name, PENDING, version_id)
        return version_id

    def _finish(
        self, secret: Secret, kind: ManagedType, config: dict[str, Any], pending: str, now: int
    ) -> None:
        grace = kind.grace(config)
        with self._changing(secret.account_id, secret.name) as conn:
            locked = row(conn, secret.account_id, secret.name, lock=True)
            if holder(conn, secret.account_id, secret.name, PENDING) != pending:
                return  # another node finished this rotation
            set_stage(conn, secret.account_id, secret.name, CURRENT, pending)
            drop_stage(conn, secret.account_id, secret.name, PENDING)
            values: dict[str, Any] = {
                "last_rotation_at": now,
                "updated_at": now,
                "retire_at": now + grace if grace is not None else None,
            }
            if locked.rotation_enabled and locked.rotation_interval:
                values["next_rotation_at"] = now + locked.rotation_interval
            conn.execute(
                update(t.secrets)
                .where(
                    t.secrets.c.account_id == secret.account_id,
                    t.secrets.c.name == secret.name,
                )
                .values(**values)
            )

    def claim(self, secret: Secret, now: int) -> bool:
        """Take a due automatic rotation: push its date ``RETRY_DELAY`` ahead, compare-and-set,
        so only one node runs it and a failure is retried after the delay."""
        with self._changing(secret.account_id, secret.name) as conn:
            return claim_due(conn, secret, next_rotation_at=now + RETRY_DELAY)

    def retire_due(self, now: int) -> list[str]:
        """Retire the replaced credentials of every rotation whose grace period has passed."""
        with self._db.read() as conn:
            due = conn.execute(select(t.secrets).where(t.secrets.c.retire_at <= now)).all()
        retired = []
        for due_row in due:
            secret = Secret.from_row(due_row)
            name = tag_id(secret.account_id, secret.name)
            kind = self.types.get(secret.secret_type)
            try:
                if kind is not None:
                    scope = Scope("", secret.account_id)
                    with self._db.read() as conn:
                        previous = holder(conn, secret.account_id, secret.name, PREVIOUS)
                    if previous is not None:
                        replaced = self._open(scope, secret.name, previous)
                        kind.retire(secret, config_of(secret), replaced)
                with self._changing(secret.account_id, secret.name) as conn:
                    conn.execute(
                        update(t.secrets)
                        .where(
                            t.secrets.c.account_id == secret.account_id,
                            t.secrets.c.name == secret.name,
                            t.secrets.c.retire_at == secret.retire_at,
                        )
                        .values(retire_at=None)
                    )
                retired.append(name)
            except Exception as exc:
                log.error(
                    "retiring the old credentials of secret %s failed (%s); retrying next pass",
                    name,
                    type(exc).__name__,
                )
        return retired
