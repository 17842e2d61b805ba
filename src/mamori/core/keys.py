"""Keys: create, describe, list, state changes, deletion and rotation policy, versions.

Every change is computed first, written in one store transaction, and only then reflected in the
caches, so a failure leaves neither a partial row nor a stale cache entry.
"""

from __future__ import annotations

import hmac
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mamori.core import tags as tag_store
from mamori.core.cache import LruCache
from mamori.core.errors import (
    InvalidInput,
    InvalidKeyMaterial,
    KeyNotFound,
    KeyVersionNotFound,
    StateConflict,
    Unsupported,
    UnsupportedOrigin,
    UnsupportedProtectionLevel,
)
from mamori.core.hsm_keys import HsmVersions
from mamori.core.instances import InstanceService
from mamori.core.invalidation import Invalidations
from mamori.core.model import KeyRecord, KeyState, KeyVersion
from mamori.core.refs import KeyRef, Scope, parse_key_ref
from mamori.crypto import asymmetric
from mamori.crypto.aead import Aead, AeadKey
from mamori.crypto.asymmetric import AsymmetricKey, PrivateKey
from mamori.crypto.mac import Mac, MacKey
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import DEFAULT_SPEC, SPECS, Family, KeySpec, KeyUsage
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

DAY = 86400
ROTATION_MIN = 7 * DAY
ROTATION_MAX = 365 * DAY
ROTATION_DEFAULT = 365 * DAY
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class NewKey:
    """What CreateKey asks for, already validated for shape by the catalogue."""

    spec: str = DEFAULT_SPEC
    usage: str | None = None
    origin: str = "Aliyun_KMS"
    protection_level: str = "SOFTWARE"
    description: str = ""
    rotation_enabled: bool = False
    rotation_interval: int | None = None
    dkms_instance_id: str = ""
    tags: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class UsableVersion:
    """A key version ready for cryptography: its key's id and the object built from its
    material (an AEAD, a private key or an HMAC key, by the key's spec; in memory, or in a
    PKCS#11 token)."""

    key_id: str
    version_id: str
    handle: Aead | AsymmetricKey | Mac
    # Made before migration 0008: its blobs' AAD is the context alone, not ``blob.aad``.
    legacy_aad: bool = False

    @property
    def aead(self) -> Aead:
        """The AEAD of a symmetric key version (in memory, or in a PKCS#11 token)."""
        if isinstance(self.handle, AsymmetricKey | Mac):
            raise Unsupported("the key is not a symmetric encryption key")
        return self.handle

    @property
    def private_key(self) -> AsymmetricKey:
        """The private key of an asymmetric key version."""
        if not isinstance(self.handle, AsymmetricKey):
            raise Unsupported("the key is not an asymmetric key")
        return self.handle

    def private_key_for(self, algorithm: str) -> AsymmetricKey:
        """The private key, for an algorithm its spec allows (checked by the caller) and that
        its home runs: an HSM key's token may lack some (refused like any other algorithm the
        key does not offer)."""
        key = self.private_key
        if not key.offers(algorithm):
            raise Unsupported(f"the HSM holding this {key.spec.name} key cannot run {algorithm}")
        return key

    @property
    def mac_key(self) -> Mac:
        """The HMAC key of an HMAC key version."""
        if not isinstance(self.handle, Mac):
            raise Unsupported("the key is not an HMAC key")
        return self.handle


def new_material(spec: KeySpec) -> KeyMaterial:
    """Fresh material for a version of a key of ``spec``."""
    if spec.asymmetric:
        return asymmetric.generate(spec)
    return KeyMaterial(os.urandom(spec.material_bytes))


def _handle(spec: KeySpec, material: KeyMaterial) -> AeadKey | PrivateKey | MacKey:
    if spec.cipher is not None:
        return AeadKey(spec.cipher, material)
    if spec.family is Family.HMAC:
        return MacKey(spec.mac[0], material)
    return PrivateKey(spec, material)


def _new_key_id() -> str:
    return "key-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def _binding(key_id: str, version_id: str) -> bytes:
    return f"key/{key_id}/{version_id}".encode()


class KeyService:
    """The key domain for one server: store, keyring, caches and clock."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        clock: Clock,
        cache_size: int,
        hsm: HsmVersions | None = None,
        bus: Invalidations | None = None,
        instances: InstanceService | None = None,
    ) -> None:
        self._db = db
        # Where keys are placed and counted; None (a bare KeyService in a test): not placed.
        self._instances = instances
        self._keyring = keyring
        self._hsm = hsm or HsmVersions(None)
        self._clock = clock
        self._records: LruCache[str, KeyRecord] = LruCache(cache_size, "key")
        self._aliases: LruCache[tuple[str, str], str] = LruCache(cache_size, "alias")
        self._versions: LruCache[str, UsableVersion] = LruCache(cache_size, "key_version")
        # key id -> its first version's id: the instance API's plain Encrypt/Decrypt use it.
        self._initial: LruCache[str, str] = LruCache(cache_size)
        # version id -> its key's id (never changes while both exist): the migration header
        # and Advance blobs name a key by a version.
        self._owners: LruCache[str, str] = LruCache(cache_size)
        self._bus = bus or Invalidations()
        self._bus.register("key", lambda args: self._forget_key(args[0]), self._forget_all)
        self._bus.register(
            "alias", lambda args: self._aliases.discard((args[0], args[1])), self._aliases.clear
        )

    def now(self) -> int:
        """The service clock, in whole seconds."""
        return int(self._clock())

    # -- lookups -----------------------------------------------------------------------------

    def resolve(self, scope: Scope, text: str) -> KeyRecord:
        """The key a KeyId parameter names (id, alias or ARN) in the caller's account."""
        ref = parse_key_ref(scope, text)
        if ref is None:
            raise KeyNotFound
        key_id = ref.key_id or self._alias_target(scope.account_id, ref)
        record = self._records.get_or_load(key_id, self._load_record)
        if record is None or record.account_id != scope.account_id:
            raise KeyNotFound
        return record

    def _alias_target(self, account_id: str, ref: KeyRef) -> str:
        assert ref.alias is not None
        cache_key = (account_id, ref.alias)

        def load(k: tuple[str, str]) -> str | None:
            with self._db.read() as conn:
                return conn.execute(
                    select(t.aliases.c.key_id).where(
                        t.aliases.c.account_id == k[0], t.aliases.c.name == k[1]
                    )
                ).scalar_one_or_none()

        target = self._aliases.get_or_load(cache_key, load)
        if target is None:
            raise KeyNotFound
        return target

    def _load_record(self, key_id: str) -> KeyRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(t.keys).where(t.keys.c.id == key_id)).first()
        return None if row is None else KeyRecord.from_row(row)

    def version(self, version_id: str) -> UsableVersion | None:
        """A key version's AEAD, from the cache or unwrapped from the store."""
        return self._versions.get_or_load(version_id, self._load_version)

    def _load_version(self, version_id: str) -> UsableVersion | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(
                    t.key_versions.c.key_id,
                    t.key_versions.c.wrapped_material,
                    t.key_versions.c.bound_aad,
                    t.keys.c.spec,
                    t.keys.c.usage,
                    t.keys.c.protection_level,
                )
                .join(t.keys, t.keys.c.id == t.key_versions.c.key_id)
                .where(t.key_versions.c.id == version_id)
            ).first()
        if row is None or not row.wrapped_material:
            return None  # no such version, or its imported material was deleted
        legacy = not row.bound_aad
        if row.protection_level == "HSM":
            handle = self._hsm.open(
                row.wrapped_material, row.key_id, version_id, SPECS[row.spec], KeyUsage(row.usage)
            )
            return UsableVersion(row.key_id, version_id, handle, legacy)
        material = self._keyring.unwrap(row.wrapped_material, _binding(row.key_id, version_id))
        return UsableVersion(row.key_id, version_id, _handle(SPECS[row.spec], material), legacy)

    def initial_version_id(self, key_id: str) -> str | None:
        """The id of a key's first version (oldest; ties by id), cached until the key is
        forgotten. Times are whole seconds: a version added in the very second the key was
        created could sort first on a node that has not cached the answer yet, so plain
        instance-API blobs of such a key should carry their version (the transfer clients'
        x-kms-migrationkeyversionid does)."""

        def load(k: str) -> str | None:
            with self._db.read() as conn:
                found = conn.execute(
                    select(t.key_versions.c.id)
                    .where(t.key_versions.c.key_id == k)
                    .order_by(t.key_versions.c.created_at, t.key_versions.c.id)
                    .limit(1)
                ).scalar_one_or_none()
            return None if found is None else str(found)

        return self._initial.get_or_load(key_id, load)

    def key_of_version(self, version_id: str) -> str | None:
        """The key a version belongs to, even when its material is gone."""

        def load(k: str) -> str | None:
            with self._db.read() as conn:
                found = conn.execute(
                    select(t.key_versions.c.key_id).where(t.key_versions.c.id == k)
                ).scalar_one_or_none()
            return None if found is None else str(found)

        return self._owners.get_or_load(version_id, load)

    def invalidate(self, key_id: str) -> None:
        """Forget everything cached about one key (after a committed change), on every node."""
        self._bus.publish("key", key_id)

    def invalidate_alias(self, account_id: str, alias: str) -> None:
        """Forget one alias's target, on every node."""
        self._bus.publish("alias", account_id, alias)

    def _forget_key(self, key_id: str) -> None:
        self._records.discard(key_id)
        self._initial.discard(key_id)
        self._owners.discard_where(lambda _k, owner: owner == key_id)
        self._aliases.discard_where(lambda _k, target: target == key_id)
        self._versions.discard_where(lambda _k, v: v.key_id == key_id)

    def _forget_all(self) -> None:
        self._records.clear()
        self._initial.clear()
        self._owners.clear()
        self._aliases.clear()
        self._versions.clear()

    # -- create and read ---------------------------------------------------------------------

    def create(self, scope: Scope, creator: str, new: NewKey) -> KeyRecord:
        """CreateKey."""
        spec = SPECS.get(new.spec)
        if spec is None:
            raise InvalidInput("KeySpec")
        usage = new.usage or spec.default_usage.value
        if usage not in {u.value for u in KeyUsage} or not spec.supports(KeyUsage(usage)):
            raise InvalidInput("KeyUsage", f"{new.spec} keys cannot be used for {usage}.")
        if new.origin not in ("Aliyun_KMS", "EXTERNAL"):
            raise InvalidInput("Origin")
        external = new.origin == "EXTERNAL"
        if external and not spec.symmetric:
            raise UnsupportedOrigin
        if external and new.rotation_enabled:
            raise Unsupported("keys with imported material do not rotate")
        if new.protection_level not in ("SOFTWARE", "HSM"):
            raise InvalidInput("ProtectionLevel")
        if spec.hsm_only and new.protection_level != "HSM":
            raise UnsupportedProtectionLevel
        if new.protection_level == "HSM":
            # Importing material into the token (C_UnwrapKey) is not offered: HSM keys are
            # generated there.
            if external:
                raise UnsupportedProtectionLevel
            self._hsm.check(spec, KeyUsage(usage))
        interval = None
        if new.rotation_enabled:
            # As UpdateRotationPolicy: asymmetric and HMAC keys have no automatic rotation.
            if not spec.symmetric:
                raise Unsupported("automatic rotation needs a symmetric key")
            interval = _given_or(new.rotation_interval, ROTATION_DEFAULT)
            check_rotation_interval(interval)
        now = self.now()
        key_id = _new_key_id()
        version_id = str(uuid.uuid4())
        instance_id = new.dkms_instance_id
        if self._instances is not None:
            instance_id = self._instances.placement(scope.account_id, instance_id).id
        row: dict[str, Any] = {
            "id": key_id,
            "account_id": scope.account_id,
            "spec": spec.name,
            "usage": usage,
            "origin": new.origin,
            "protection_level": new.protection_level,
            "state": KeyState.PENDING_IMPORT if external else KeyState.ENABLED,
            "description": new.description,
            "creator": creator,
            "dkms_instance_id": instance_id,
            "created_at": now,
            "delete_at": None,
            "deletion_protection": False,
            "deletion_protection_description": "",
            "rotation_enabled": new.rotation_enabled,
            "rotation_interval": interval,
            "last_rotation_at": None,
            "next_rotation_at": now + interval if interval else None,
            "primary_version_id": version_id,
        }
        # An imported key's one version gets its material from ImportKeyMaterial.
        stored = (
            None
            if external
            else self._new_material(new.protection_level, spec.name, usage, key_id, version_id)
        )
        try:
            with self._db.begin() as conn:
                if self._instances is not None:
                    self._instances.admit(conn, scope.account_id, instance_id, "key")
                conn.execute(insert(t.keys).values(**row))
                if stored is not None:
                    self._insert_version(conn, key_id, version_id, stored, now)
                tag_store.put(conn, scope.account_id, "key", key_id, new.tags)
        except BaseException:
            if stored is not None:
                self._destroy_material(new.protection_level, key_id, version_id)
            raise
        return KeyRecord(**row)

    def _new_material(
        self, protection: str, spec: str, usage: str, key_id: str, version_id: str
    ) -> bytes:
        """A new version's stored form: its material wrapped by the keyring, or (HSM) a reference
        to a key just generated in the token (a key pair made for ``usage``)."""
        if protection == "HSM":
            return self._hsm.generate(key_id, version_id, SPECS[spec], KeyUsage(usage))
        material = new_material(SPECS[spec])
        return self._keyring.wrap(material.reveal(), _binding(key_id, version_id))

    def _destroy_material(self, protection: str, key_id: str, version_id: str) -> None:
        """Destroy an HSM version's token key: after a failed store write (nothing may reference
        it) or once its key is deleted. Software material goes with its row."""
        if protection == "HSM":
            self._hsm.discard(key_id, version_id)

    def _insert_version(
        self, conn: Connection, key_id: str, version_id: str, stored: bytes, now: int
    ) -> None:
        conn.execute(
            insert(t.key_versions).values(
                id=version_id,
                key_id=key_id,
                wrapped_material=stored,
                created_at=now,
                bound_aad=True,
            )
        )

    def list_all(self, account_id: str) -> list[KeyRecord]:
        """Every key of the account, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.keys)
                .where(t.keys.c.account_id == account_id)
                .order_by(t.keys.c.created_at, t.keys.c.id)
            ).all()
        return [KeyRecord.from_row(r) for r in rows]

    # -- state changes -------------------------------------------------------------------------

    def _change(self, record: KeyRecord, **values: Any) -> KeyRecord:
        with self._db.begin() as conn:
            conn.execute(update(t.keys).where(t.keys.c.id == record.id).values(**values))
        self.invalidate(record.id)
        return replace(record, **values)

    def enable(self, scope: Scope, key: str) -> None:
        """EnableKey."""
        record = self.resolve(scope, key)
        _require_state(record, (KeyState.ENABLED, KeyState.DISABLED), "the key cannot be enabled")
        self._change(record, state=KeyState.ENABLED)

    def disable(self, scope: Scope, key: str) -> None:
        """DisableKey."""
        record = self.resolve(scope, key)
        _require_state(record, (KeyState.ENABLED, KeyState.DISABLED), "the key cannot be disabled")
        self._change(record, state=KeyState.DISABLED)

    def schedule_deletion(self, scope: Scope, key: str, days: int) -> KeyRecord:
        """ScheduleKeyDeletion: PendingDeletion until ``days`` from now; a job deletes it then."""
        record = self.resolve(scope, key)
        _require_state(
            record,
            (KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_IMPORT),
            "the key is already pending deletion",
        )
        if record.deletion_protection:
            raise StateConflict(
                "Rejected.StateModifiedFailed",
                state=record.state,
                reason="deletion protection is enabled",
            )
        return self._change(
            record, state=KeyState.PENDING_DELETION, delete_at=self.now() + days * DAY
        )

    def cancel_deletion(self, scope: Scope, key: str) -> None:
        """CancelKeyDeletion: back to Enabled, or to PendingImport for an imported key whose
        material is absent (never imported, or deleted meanwhile)."""
        record = self.resolve(scope, key)
        _require_state(record, (KeyState.PENDING_DELETION,), "the key is not pending deletion")
        state = KeyState.ENABLED
        if record.origin == "EXTERNAL" and not self._has_material(record):
            state = KeyState.PENDING_IMPORT
        self._change(record, state=state, delete_at=None)

    def _has_material(self, record: KeyRecord) -> bool:
        with self._db.read() as conn:
            stored = conn.execute(
                select(t.key_versions.c.wrapped_material).where(
                    t.key_versions.c.id == record.primary_version_id
                )
            ).scalar_one_or_none()
        return bool(stored)

    def update_description(self, scope: Scope, key: str, description: str) -> None:
        """UpdateKeyDescription."""
        self._change(self.resolve(scope, key), description=description)

    def set_deletion_protection(
        self, scope: Scope, key: str, enabled: bool, description: str
    ) -> None:
        """SetDeletionProtection."""
        record = self.resolve(scope, key)
        self._change(
            record,
            deletion_protection=enabled,
            deletion_protection_description=description if enabled else "",
        )

    def update_rotation_policy(
        self, scope: Scope, key: str, enabled: bool, interval: int | None
    ) -> None:
        """UpdateRotationPolicy."""
        record = self.resolve(scope, key)
        if not enabled:
            self._change(record, rotation_enabled=False, next_rotation_at=None)
            return
        if record.origin != "Aliyun_KMS" or not SPECS[record.spec].symmetric:
            raise Unsupported("automatic rotation needs a symmetric key with Origin Aliyun_KMS")
        interval = _given_or(interval, _given_or(record.rotation_interval, ROTATION_DEFAULT))
        check_rotation_interval(interval)
        base = record.last_rotation_at or record.created_at
        self._change(
            record,
            rotation_enabled=True,
            rotation_interval=interval,
            next_rotation_at=max(base + interval, self.now()),
        )

    # -- versions ----------------------------------------------------------------------------

    def create_version(self, scope: Scope, key: str) -> KeyVersion:
        """CreateKeyVersion: a new primary version; old ones keep decrypting."""
        record = self.resolve(scope, key)
        _require_state(record, (KeyState.ENABLED,), "only an Enabled key can be rotated")
        if record.origin != "Aliyun_KMS" or not SPECS[record.spec].symmetric:
            raise Unsupported("only symmetric keys with Origin Aliyun_KMS can be rotated")
        version = self._rotate(record, self.now())
        assert version is not None
        return version

    def _rotate(
        self, record: KeyRecord, now: int, *, only_if_due: bool = False
    ) -> KeyVersion | None:
        """Add a primary version. With ``only_if_due`` the update claims the rotation (the
        key's next rotation date is still the one read), so two nodes never both rotate it;
        None means another writer got there first."""
        version_id = str(uuid.uuid4())
        values: dict[str, Any] = {"primary_version_id": version_id, "last_rotation_at": now}
        if record.rotation_enabled and record.rotation_interval:
            values["next_rotation_at"] = now + record.rotation_interval
        where = [t.keys.c.id == record.id]
        if only_if_due:
            where += [
                t.keys.c.next_rotation_at == record.next_rotation_at,
                t.keys.c.state == KeyState.ENABLED,
                t.keys.c.rotation_enabled.is_(True),
            ]
        stored = self._new_material(
            record.protection_level, record.spec, record.usage, record.id, version_id
        )
        try:
            with self._db.begin() as conn:
                if not conn.execute(update(t.keys).where(*where).values(**values)).rowcount:
                    self._destroy_material(record.protection_level, record.id, version_id)
                    return None
                self._insert_version(conn, record.id, version_id, stored, now)
        except BaseException:
            self._destroy_material(record.protection_level, record.id, version_id)
            raise
        self.invalidate(record.id)
        return KeyVersion(version_id, record.id, now)

    def describe_version(self, scope: Scope, key: str, version_id: str) -> KeyVersion:
        """DescribeKeyVersion."""
        record = self.resolve(scope, key)
        with self._db.read() as conn:
            row = conn.execute(
                select(t.key_versions.c.id, t.key_versions.c.created_at).where(
                    t.key_versions.c.key_id == record.id, t.key_versions.c.id == version_id
                )
            ).first()
        if row is None:
            raise KeyVersionNotFound
        return KeyVersion(row.id, record.id, row.created_at)

    def list_versions(
        self, scope: Scope, key: str, offset: int, limit: int
    ) -> tuple[list[KeyVersion], int]:
        """ListKeyVersions, oldest first, with the total count."""
        record = self.resolve(scope, key)
        where = t.key_versions.c.key_id == record.id
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(t.key_versions).where(where)
            ).scalar_one()
            rows = conn.execute(
                select(t.key_versions.c.id, t.key_versions.c.created_at)
                .where(where)
                .order_by(t.key_versions.c.created_at, t.key_versions.c.id)
                .offset(offset)
                .limit(limit)
            ).all()
        return [KeyVersion(r.id, record.id, r.created_at) for r in rows], total

    # -- imported material -------------------------------------------------------------------

    def install_material(
        self, record: KeyRecord, material: KeyMaterial, check: str, expire_at: int | None
    ) -> None:
        """ImportKeyMaterial's write: the material becomes the key's one version (or is already
        there, for a re-import of the same material), the key Enabled unless PendingDeletion."""
        assert record.primary_version_id is not None
        with self._db.begin() as conn:
            current = conn.execute(
                select(t.keys.c.state, t.keys.c.material_check)
                .where(t.keys.c.id == record.id)
                .with_for_update()
            ).one()
            if current.state == KeyState.PENDING_DELETION:
                # Re-checked under the lock: a ScheduleKeyDeletion may have won the race.
                raise StateConflict(
                    "Rejected.StateModifiedFailed",
                    state=current.state,
                    reason="the key is pending deletion",
                )
            stored = current.material_check
            if stored is not None and not hmac.compare_digest(stored, check):
                raise InvalidKeyMaterial
            version = conn.execute(
                select(t.key_versions.c.wrapped_material).where(
                    t.key_versions.c.id == record.primary_version_id
                )
            ).first()
            if version is None:
                binding = _binding(record.id, record.primary_version_id)
                wrapped = self._keyring.wrap(material.reveal(), binding)
                self._insert_version(
                    conn, record.id, record.primary_version_id, wrapped, self.now()
                )
            elif not version.wrapped_material:
                binding = _binding(record.id, record.primary_version_id)
                conn.execute(
                    update(t.key_versions)
                    .where(t.key_versions.c.id == record.primary_version_id)
                    .values(wrapped_material=self._keyring.wrap(material.reveal(), binding))
                )
            values: dict[str, Any] = {"material_check": check, "material_expire_at": expire_at}
            if current.state == KeyState.PENDING_IMPORT:
                values["state"] = KeyState.ENABLED
            conn.execute(update(t.keys).where(t.keys.c.id == record.id).values(**values))
        self.invalidate(record.id)

    def remove_material(self, key_id: str, expired_by: int | None = None) -> bool:
        """DeleteKeyMaterial (or expiry, with ``expired_by`` the time: only if the material
        expired by then): the material is gone and the key PendingImport, except that a key
        PendingDeletion keeps its state. False when there was nothing to remove."""
        where = [t.keys.c.id == key_id]
        if expired_by is not None:
            where.append(t.keys.c.material_expire_at <= expired_by)
        with self._db.begin() as conn:
            found = conn.execute(select(t.keys.c.state).where(*where).with_for_update()).first()
            if found is None:
                return False
            # The version stays, emptied: its blobs then report the key's state, and the same
            # material imported again opens them.
            conn.execute(
                update(t.key_versions)
                .where(t.key_versions.c.key_id == key_id)
                .values(wrapped_material=b"")
            )
            values: dict[str, Any] = {"material_expire_at": None}
            if found.state != KeyState.PENDING_DELETION:
                values["state"] = KeyState.PENDING_IMPORT
            conn.execute(update(t.keys).where(t.keys.c.id == key_id).values(**values))
        self.invalidate(key_id)
        self._db.erase()
        return True

    def expire_materials(self, now: int) -> list[str]:
        """Remove every imported material whose KeyMaterialExpireUnix has passed."""
        with self._db.read() as conn:
            due = (
                conn.execute(select(t.keys.c.id).where(t.keys.c.material_expire_at <= now))
                .scalars()
                .all()
            )
        return [key_id for key_id in due if self.remove_material(key_id, expired_by=now)]

    # -- background work ---------------------------------------------------------------------

    def delete_due(self, now: int) -> list[str]:
        """Delete every key whose deletion date has passed; returns their ids."""
        with self._db.read() as conn:
            due = conn.execute(
                select(t.keys.c.id, t.keys.c.protection_level).where(
                    t.keys.c.state == KeyState.PENDING_DELETION, t.keys.c.delete_at <= now
                )
            ).all()
        deleted = []
        for key_id, protection in due:
            with self._db.begin() as conn:
                versions = (
                    conn.execute(
                        select(t.key_versions.c.id).where(t.key_versions.c.key_id == key_id)
                    )
                    .scalars()
                    .all()
                )
                # Re-check inside the transaction: a CancelKeyDeletion may have won the race.
                still_due = conn.execute(
                    delete(t.keys).where(
                        t.keys.c.id == key_id,
                        t.keys.c.state == KeyState.PENDING_DELETION,
                        t.keys.c.delete_at <= now,
                    )
                ).rowcount
                if still_due:
                    conn.execute(delete(t.key_versions).where(t.key_versions.c.key_id == key_id))
                    conn.execute(delete(t.aliases).where(t.aliases.c.key_id == key_id))
                    tag_store.drop_resource(conn, "key", key_id)
            if still_due:
                self.invalidate(key_id)
                deleted.append(key_id)
                # Only after the commit: a rolled-back deletion must keep its token keys.
                for version_id in versions:
                    self._destroy_material(protection, key_id, version_id)
        if deleted:
            self._db.erase()
        return deleted

    def rotate_due(self, now: int) -> list[str]:
        """Rotate every Enabled key whose automatic rotation is due; returns their ids."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.keys).where(
                    t.keys.c.rotation_enabled.is_(True),
                    t.keys.c.state == KeyState.ENABLED,
                    t.keys.c.next_rotation_at <= now,
                )
            ).all()
        rotated = []
        for row in rows:
            record = KeyRecord.from_row(row)
            if self._rotate(record, now, only_if_due=True) is not None:
                rotated.append(record.id)
        return rotated


def _given_or(value: int | None, default: int) -> int:
    """``value`` unless it was not given: 0 is given (and refused by the range check), where
    ``value or default`` silently turned ``RotationInterval=0s`` into the default."""
    return default if value is None else value


def check_rotation_interval(seconds: int) -> None:
    """Software keys rotate every 7 to 365 days."""
    if not ROTATION_MIN <= seconds <= ROTATION_MAX:
        raise InvalidInput("RotationInterval", "It must be between 7 and 365 days.")


def _require_state(record: KeyRecord, allowed: tuple[str, ...], reason: str) -> None:
    if record.state not in allowed:
        raise StateConflict("Rejected.StateModifiedFailed", state=record.state, reason=reason)
