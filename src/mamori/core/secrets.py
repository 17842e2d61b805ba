"""Secrets: generic secrets whose versions are sealed under a KMS key, and their version stages.

A value is stored only as the CiphertextBlob ``CryptoService.encrypt`` makes under the secret's
key, with ``{"SecretName", "VersionId"}`` as EncryptionContext, so a blob cannot be replayed
as another version. Each change is one store transaction; stage changes lock the secret row.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core import tags as tag_store
from mamori.core.crypto_ops import CryptoService, require_usable
from mamori.core.errors import InvalidInput, Unsupported
from mamori.core.instances import InstanceService
from mamori.core.keys import KeyService, NewKey
from mamori.core.managed_rotation import ManagedRotation, ManagedType, parse_config
from mamori.core.model import POLICY_NAME
from mamori.core.refs import Scope
from mamori.core.secret_rotation import ROTATION_DEFAULT, check_interval, new_password
from mamori.core.secret_rows import (
    CURRENT,
    PREVIOUS,
    Secret,
    SecretExists,
    SecretInDeleteWindow,
    SecretNotFound,
    SecretValue,
    VersionInfo,
    check_data,
    claim_due,
    context,
    drop_stage,
    has_version,
    holder,
    insert_version,
    purge,
    row,
    set_stage,
    stages_of,
    tag_id,
)
from mamori.core.secret_views import SecretViews
from mamori.store import schema as t
from mamori.store.database import Database

__all__ = ["CURRENT", "GENERIC", "Secret", "SecretNotFound", "SecretService", "tag_id"]

DAY = 86400
GENERIC = "Generic"

log = logging.getLogger("mamori.secrets")
DEFAULT_KEY_DESCRIPTION = "Mamori default key for secrets"

Clock = Callable[[], float]


class SecretService:
    """The secret domain for one server."""

    def __init__(
        self,
        db: Database,
        keys: KeyService,
        crypto: CryptoService,
        clock: Clock,
        views: SecretViews,
        instances: InstanceService | None = None,
    ) -> None:
        self._db = db
        # Where secrets are placed and counted; None (a bare service in a test): not placed.
        self._instances = instances
        self._crypto = crypto
        self._keys = keys
        self._clock = clock
        self._default_lock = threading.Lock()
        self._managed = ManagedRotation(db, crypto, {}, self._changing)
        self._views = views

    @contextmanager
    def _changing(self, account_id: str, name: str) -> Iterator[Connection]:
        """A write transaction on one secret; its cached view is forgotten when it ends."""
        try:
            with self._db.begin() as conn:
                yield conn
        finally:
            self._views.forget(account_id, name)

    def manage(self, types: dict[str, ManagedType]) -> None:
        """Serve these managed secret types (``Rds``, ``RAMCredentials``) besides Generic."""
        self._managed.types.update(types)

    def served_type(self, secret_type: str) -> bool:
        """Whether CreateSecret accepts this SecretType."""
        return secret_type == GENERIC or secret_type in self._managed.types

    def _unmanaged(self, secret: Secret, action: str) -> None:
        # A managed secret's values follow credentials that live elsewhere; only rotation
        # may change them.
        if secret.secret_type != GENERIC:
            raise Unsupported(f"{action} is not available for {secret.secret_type} secrets")

    def now(self) -> int:
        """The service clock, in whole seconds."""
        return int(self._clock())

    # -- lookups -------------------------------------------------------------------------------

    def get(self, scope: Scope, name: str) -> Secret:
        """A secret, whether or not it is scheduled for deletion."""
        with self._db.read() as conn:
            return row(conn, scope.account_id, name)

    def live(self, scope: Scope, name: str) -> Secret:
        """A secret that is not in its delete window."""
        secret = self.get(scope, name)
        if secret.planned_delete_at is not None:
            raise SecretInDeleteWindow
        return secret

    def list_all(self, account_id: str) -> list[Secret]:
        """Every secret of the account, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.secrets)
                .where(t.secrets.c.account_id == account_id)
                .order_by(t.secrets.c.created_at, t.secrets.c.name)
            ).all()
        return [Secret.from_row(r) for r in rows]

    def versions(self, scope: Scope, name: str, include_deprecated: bool) -> list[VersionInfo]:
        """ListSecretVersionIds: newest first; versions without stages only when asked."""
        with self._db.read() as conn:
            row(conn, scope.account_id, name)
            stages = stages_of(conn, scope.account_id, name)
            rows = conn.execute(
                select(t.secret_versions.c.version_id, t.secret_versions.c.created_at)
                .where(
                    t.secret_versions.c.account_id == scope.account_id,
                    t.secret_versions.c.secret_name == name,
                )
                .order_by(t.secret_versions.c.created_at.desc(), t.secret_versions.c.version_id)
            ).all()
        return [
            VersionInfo(r.version_id, stages.get(r.version_id, []), r.created_at)
            for r in rows
            if include_deprecated or r.version_id in stages
        ]

    # -- the encryption key --------------------------------------------------------------------

    def encryption_key(self, scope: Scope, key: str | None) -> str:
        """The id of a usable symmetric key: the named one, or the account's default key."""
        if key:
            record = self._keys.resolve(scope, key)
            require_usable(record)
            return record.id
        return self._default_key(scope)

    def _default_key(self, scope: Scope) -> str:
        # The lock keeps concurrent first uses in this process from creating two keys; the
        # primary key settles a race with another process (its key is then left unused).
        with self._default_lock:
            with self._db.read() as conn:
                found = conn.execute(
                    select(t.secret_default_keys.c.key_id).where(
                        t.secret_default_keys.c.account_id == scope.account_id
                    )
                ).scalar_one_or_none()
            if found is not None:
                return str(found)
            record = self._keys.create(scope, "Mamori", NewKey(description=DEFAULT_KEY_DESCRIPTION))
            try:
                with self._db.begin() as conn:
                    conn.execute(
                        insert(t.secret_default_keys).values(
                            account_id=scope.account_id, key_id=record.id
                        )
                    )
            except IntegrityError:
                return self._default_key_unlocked(scope)
            return record.id

    def _default_key_unlocked(self, scope: Scope) -> str:
        with self._db.read() as conn:
            return str(
                conn.execute(
                    select(t.secret_default_keys.c.key_id).where(
                        t.secret_default_keys.c.account_id == scope.account_id
                    )
                ).scalar_one()
            )

    def _seal(self, scope: Scope, key_id: str, name: str, version_id: str, data: bytes) -> str:
        return self._crypto.encrypt(scope, key_id, data, context(name, version_id)).blob

    # -- changes -------------------------------------------------------------------------------

    def create(
        self,
        scope: Scope,
        secret: Secret,
        version_id: str,
        data: bytes,
        tags: Sequence[tuple[str, str]],
        policy: str | None = None,
    ) -> str:
        """CreateSecret: the secret and its first version, which holds ACSCurrent (and, for a
        DoubleUsers Rds secret, a second one holding ACSPrevious), with its policy if given.
        Returns the KMS instance it was placed in (its DKMSInstanceId, else the default)."""
        check_data(data)
        tag_store.validate(tags)
        if self._instances is not None:
            placed = self._instances.placement(scope.account_id, secret.dkms_instance_id)
            secret = replace(secret, dkms_instance_id=placed.id)
        standby: list[tuple[str, str]] = []
        if secret.secret_type != GENERIC:
            kind = self._managed.types[secret.secret_type]
            config = parse_config(secret.extended_config)
            data, *others = kind.initial(scope, config, data, secret.created_at)
            standby = [
                (vid, self._seal(scope, secret.encryption_key_id, secret.name, vid, value))
                for vid, value in ((f"standby-{uuid.uuid4().hex[:16]}", v) for v in others)
            ]
        blob = self._seal(scope, secret.encryption_key_id, secret.name, version_id, data)
        try:
            with self._changing(scope.account_id, secret.name) as conn:
                existing = conn.execute(
                    select(t.secrets.c.planned_delete_at).where(
                        t.secrets.c.account_id == scope.account_id,
                        t.secrets.c.name == secret.name,
                    )
                ).first()
                if existing is not None:
                    if existing.planned_delete_at is not None:
                        raise SecretInDeleteWindow
                    raise SecretExists
                if self._instances is not None:
                    self._instances.admit(conn, scope.account_id, secret.dkms_instance_id, "secret")
                conn.execute(insert(t.secrets).values(**asdict(secret)))
                for standby_id, standby_blob in standby:
                    insert_version(conn, secret, standby_id, standby_blob, secret.created_at)
                    set_stage(conn, scope.account_id, secret.name, PREVIOUS, standby_id)
                insert_version(conn, secret, version_id, blob, secret.created_at)
                set_stage(conn, scope.account_id, secret.name, CURRENT, version_id)
                if policy:
                    conn.execute(
                        insert(t.secret_policies).values(
                            account_id=scope.account_id,
                            secret_name=secret.name,
                            name=POLICY_NAME,
                            document=policy,
                            updated_at=secret.created_at,
                        )
                    )
                tag_store.put(
                    conn, scope.account_id, "secret", tag_id(scope.account_id, secret.name), tags
                )
        except IntegrityError:
            # Another CreateSecret of the same name won the race.
            raise SecretExists from None
        return secret.dkms_instance_id

    def put_value(
        self,
        scope: Scope,
        name: str,
        version_id: str,
        data: bytes,
        data_type: str,
        stages: Sequence[str],
    ) -> list[str]:
        """PutSecretValue; returns the new version's stages. Repeating a version with the same
        data is a no-op; with other data it is ``Rejected.ResourceExist``."""
        check_data(data)
        secret = self.live(scope, name)
        self._unmanaged(secret, "PutSecretValue")
        blob = self._seal(scope, secret.encryption_key_id, name, version_id, data)
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            existing = conn.execute(
                select(t.secret_versions).where(
                    t.secret_versions.c.account_id == scope.account_id,
                    t.secret_versions.c.secret_name == name,
                    t.secret_versions.c.version_id == version_id,
                )
            ).first()
            if existing is None:
                now = self.now()
                new = replace(secret, secret_data_type=data_type)
                insert_version(conn, new, version_id, blob, now)
                for stage in stages:
                    set_stage(conn, scope.account_id, name, stage, version_id)
                conn.execute(
                    update(t.secrets)
                    .where(t.secrets.c.account_id == scope.account_id, t.secrets.c.name == name)
                    .values(updated_at=now)
                )
            return_stages = stages_of(conn, scope.account_id, name).get(version_id, [])
        if existing is not None:
            opened = self._open(scope, name, existing.version_id, existing.wrapped_value)
            if opened != data or existing.secret_data_type != data_type:
                raise SecretExists
        return return_stages

    def _open(self, scope: Scope, name: str, version_id: str, blob: str) -> bytes:
        return self._crypto.decrypt(scope, blob, context(name, version_id)).plaintext

    def value(
        self, scope: Scope, name: str, version_id: str | None, stage: str | None
    ) -> SecretValue:
        """GetSecretValue: by VersionId, by VersionStage (default ACSCurrent), or both."""
        secret = self.live(scope, name)
        with self._db.read() as conn:
            if version_id is None:
                version_id = holder(conn, scope.account_id, name, stage or CURRENT)
                if version_id is None:
                    raise SecretNotFound
            row = conn.execute(
                select(t.secret_versions).where(
                    t.secret_versions.c.account_id == scope.account_id,
                    t.secret_versions.c.secret_name == name,
                    t.secret_versions.c.version_id == version_id,
                )
            ).first()
            stages = stages_of(conn, scope.account_id, name).get(version_id, [])
        if row is None or (stage is not None and stage not in stages):
            raise SecretNotFound
        data = self._open(scope, secret.name, row.version_id, row.wrapped_value)
        return SecretValue(row.version_id, data, row.secret_data_type, stages, row.created_at)

    def read(
        self, scope: Scope, name: str, version_id: str | None, stage: str | None
    ) -> tuple[Secret, SecretValue]:
        """GetSecretValue from the cached view: the secret and the version asked for (by
        VersionId, by VersionStage — default ACSCurrent — or both). Only a version without
        stages is read from the store."""
        view = self._views.get(scope.account_id, name)
        if view is None:
            raise SecretNotFound
        secret = view.secret
        if secret.planned_delete_at is not None:
            raise SecretInDeleteWindow
        if version_id is None:
            version_id = view.holders.get(stage or CURRENT)
            if version_id is None:
                raise SecretNotFound
        sealed = view.versions.get(version_id)
        if sealed is None:
            if stage is not None:
                raise SecretNotFound
            return secret, self.value(scope, name, version_id, None)
        if stage is not None and stage not in sealed.stages:
            raise SecretNotFound
        data = self._open(scope, name, sealed.version_id, sealed.blob)
        return secret, SecretValue(
            sealed.version_id, data, sealed.data_type, sealed.stages, sealed.created_at
        )

    def key_of(self, scope: Scope, name: str) -> str | None:
        """The id of the key that encrypts the secret's values, from its cached view (None when
        there is no such secret): authorization checks it on every read and write."""
        view = self._views.get(scope.account_id, name)
        return None if view is None else view.secret.encryption_key_id

    def instance_of(self, scope: Scope, name: str) -> str | None:
        """The KMS instance holding the secret, from its cached view (None when there is no
        such secret; "" for the account's default): the dedicated gateway authorizes a client
        key against it."""
        view = self._views.get(scope.account_id, name)
        return None if view is None else view.secret.dkms_instance_id

    def key_check(self, scope: Scope, name: str) -> None:
        """What GetSecretValue's DryRun checks: the secret is live and its key usable."""
        secret = self.live(scope, name)
        require_usable(self._keys.resolve(scope, secret.encryption_key_id))

    def update_stage(
        self, scope: Scope, name: str, stage: str, move_to: str | None, remove_from: str | None
    ) -> None:
        """UpdateSecretVersionStage: ACSCurrent and ACSPrevious can only be moved."""
        if move_to is None and remove_from is None:
            raise InvalidInput("MoveToVersion", "Name MoveToVersion or RemoveFromVersion.")
        if move_to is None and stage in (CURRENT, PREVIOUS):
            raise Unsupported(f"{stage} can only be moved to another version, not removed")
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            self._unmanaged(secret, "UpdateSecretVersionStage")
            current = holder(conn, scope.account_id, name, stage)
            if remove_from is not None and current != remove_from:
                raise InvalidInput(
                    "RemoveFromVersion", f"The stage is not on version {remove_from}."
                )
            if move_to is None:
                drop_stage(conn, scope.account_id, name, stage)
                return
            found = conn.execute(
                select(t.secret_versions.c.version_id).where(
                    t.secret_versions.c.account_id == scope.account_id,
                    t.secret_versions.c.secret_name == name,
                    t.secret_versions.c.version_id == move_to,
                )
            ).first()
            if found is None:
                raise SecretNotFound
            set_stage(conn, scope.account_id, name, stage, move_to)

    def update(
        self, scope: Scope, name: str, description: str | None, extended_config: str | None
    ) -> None:
        """UpdateSecret: the description and/or the extended configuration."""
        values: dict[str, Any] = {"updated_at": self.now()}
        if description is not None:
            values["description"] = description
        if extended_config is not None:
            values["extended_config"] = extended_config
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            conn.execute(
                update(t.secrets)
                .where(t.secrets.c.account_id == scope.account_id, t.secrets.c.name == name)
                .values(**values)
            )

    def delete(self, scope: Scope, name: str, force: bool, days: int) -> int:
        """DeleteSecret: schedule the deletion ``days`` ahead, or delete now with ``force``;
        returns the planned deletion time."""
        now = self.now()
        if force:
            with self._changing(scope.account_id, name) as conn:
                row(conn, scope.account_id, name, lock=True)
                purge(conn, scope.account_id, name)
            self._db.erase()
            return now
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            planned = now + days * DAY
            conn.execute(
                update(t.secrets)
                .where(t.secrets.c.account_id == scope.account_id, t.secrets.c.name == name)
                .values(planned_delete_at=planned, updated_at=now)
            )
            return planned

    def restore(self, scope: Scope, name: str) -> None:
        """RestoreSecret: cancel a scheduled deletion (a no-op for a live secret)."""
        with self._changing(scope.account_id, name) as conn:
            row(conn, scope.account_id, name, lock=True)
            conn.execute(
                update(t.secrets)
                .where(t.secrets.c.account_id == scope.account_id, t.secrets.c.name == name)
                .values(planned_delete_at=None, updated_at=self.now())
            )

    def delete_due(self, now: int) -> list[str]:
        """Delete every secret whose delete window has passed; returns ``account/name``s."""
        with self._db.read() as conn:
            due = conn.execute(
                select(t.secrets.c.account_id, t.secrets.c.name).where(
                    t.secrets.c.planned_delete_at <= now
                )
            ).all()
        deleted = []
        for due_row in due:
            with self._changing(due_row.account_id, due_row.name) as conn:
                # Re-check under the lock: a RestoreSecret may have won the race.
                still = conn.execute(
                    select(t.secrets.c.name)
                    .where(
                        t.secrets.c.account_id == due_row.account_id,
                        t.secrets.c.name == due_row.name,
                        t.secrets.c.planned_delete_at <= now,
                    )
                    .with_for_update()
                ).first()
                if still is not None:
                    purge(conn, due_row.account_id, due_row.name)
                    deleted.append(tag_id(due_row.account_id, due_row.name))
        if deleted:
            self._db.erase()
        return deleted

    # -- rotation ------------------------------------------------------------------------------

    def set_rotation(self, scope: Scope, name: str, enabled: bool, interval: int | None) -> None:
        """UpdateSecretRotationPolicy: turn automatic rotation on (next due one interval after
        the last rotation, or from now) or off."""
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            now = self.now()
            values: dict[str, Any] = {"rotation_enabled": enabled, "updated_at": now}
            if enabled:
                # Not "interval or …": 0 is given, and check_interval refuses it.
                seconds = interval if interval is not None else secret.rotation_interval
                seconds = ROTATION_DEFAULT if seconds is None else seconds
                check_interval(seconds)
                base = secret.last_rotation_at or now
                values["rotation_interval"] = seconds
                values["next_rotation_at"] = max(base + seconds, now)
            else:
                values["next_rotation_at"] = None
            conn.execute(
                update(t.secrets)
                .where(t.secrets.c.account_id == scope.account_id, t.secrets.c.name == name)
                .values(**values)
            )

    def rotate(self, scope: Scope, name: str, version_id: str) -> str:
        """RotateSecret: a new ACSCurrent version, a random password per the ExtendedConfig
        for a Generic secret, new credentials for a managed one; returns its version id (a
        managed rotation that an earlier attempt prepared finishes with that attempt's
        version). Repeating an existing VersionId is a no-op."""
        secret = self.live(scope, name)
        if secret.secret_type != GENERIC:
            return self._managed.rotate(secret, version_id, self.now())
        if self._has_version(scope.account_id, name, version_id):
            return version_id
        data = new_password(secret.extended_config)
        blob = self._seal(scope, secret.encryption_key_id, name, version_id, data)
        with self._changing(scope.account_id, name) as conn:
            secret = row(conn, scope.account_id, name, lock=True)
            if secret.planned_delete_at is not None:
                raise SecretInDeleteWindow
            if not has_version(conn, scope.account_id, name, version_id):
                self._install(conn, secret, version_id, blob, self.now())
        return version_id

    def rotate_due_secrets(self, now: int) -> list[str]:
        """Rotate every secret whose automatic rotation is due; returns ``account/name``s.

        A Generic rotation is claimed (compare-and-set on next_rotation_at) in the transaction
        that adds the version, so two nodes never both rotate one due date; a failure changes
        nothing and is retried on the next pass. A managed rotation is claimed first and, when
        it fails, retried after ``managed_rotation.RETRY_DELAY``."""
        with self._db.read() as conn:
            due = conn.execute(
                select(t.secrets).where(
                    t.secrets.c.rotation_enabled.is_(True),
                    t.secrets.c.planned_delete_at.is_(None),
                    t.secrets.c.next_rotation_at <= now,
                )
            ).all()
        rotated = []
        for due_row in due:
            secret = Secret.from_row(due_row)
            name = tag_id(secret.account_id, secret.name)
            try:
                if secret.secret_type == GENERIC:
                    if self._rotate_due(secret, now):
                        rotated.append(name)
                elif secret.secret_type in self._managed.types and self._managed.claim(secret, now):
                    self._managed.rotate(secret, f"auto-{uuid.uuid4()}", now)
                    rotated.append(name)
            except Exception as exc:
                # The exception type only: a message could quote secret material.
                log.error(
                    "automatic rotation of secret %s failed (%s); retrying next pass",
                    name,
                    type(exc).__name__,
                )
        return rotated

    def retire_due(self, now: int) -> list[str]:
        """Retire credentials replaced by managed rotations whose grace period has passed."""
        return self._managed.retire_due(now)

    def _rotate_due(self, secret: Secret, now: int) -> bool:
        scope = Scope("", secret.account_id)
        version_id = f"auto-{uuid.uuid4()}"
        data = new_password(secret.extended_config)
        blob = self._seal(scope, secret.encryption_key_id, secret.name, version_id, data)
        with self._changing(secret.account_id, secret.name) as conn:
            if not claim_due(conn, secret, updated_at=now):
                return False
            self._install(conn, secret, version_id, blob, now)
        return True

    def _install(
        self, conn: Connection, secret: Secret, version_id: str, blob: str, now: int
    ) -> None:
        """Add a rotated version as ACSCurrent and move the rotation dates."""
        insert_version(conn, secret, version_id, blob, now)
        set_stage(conn, secret.account_id, secret.name, CURRENT, version_id)
        values: dict[str, Any] = {"last_rotation_at": now, "updated_at": now}
        if secret.rotation_enabled and secret.rotation_interval:
            values["next_rotation_at"] = now + secret.rotation_interval
        conn.execute(
            update(t.secrets)
            .where(t.secrets.c.account_id == secret.account_id, t.secrets.c.name == secret.name)
            .values(**values)
        )

    def _has_version(self, account_id: str, name: str, version_id: str) -> bool:
        with self._db.read() as conn:
            return has_version(conn, account_id, name, version_id)
