"""KMS instances: what a key or secret belongs to, with a QPS spec and quotas.

An account always has a default instance (created by migration 0009 for accounts that existed,
otherwise on first need; the ``kms_default_instances`` primary key makes concurrent first uses
on several nodes agree on one), where keys and secrets go when no ``DKMSInstanceId`` is given.
More instances are made by an operator (``CreateKmsInstance``, a Mamori extension: Alibaba's
are purchased).

Reads come from one in-memory snapshot of every instance, loaded once and dropped whenever an
instance changes (topic ``kms_instance`` on the invalidation bus, so every node and worker
drops it too). The dedicated gateway asks ``get``/``qps_of`` on every request: a dictionary
lookup, no store access. Quota checks are made inside the writer's transaction, with the
instance's row locked, so two concurrent creations cannot both take the last place.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.errors import DomainError, InvalidInput, LimitExceeded
from mamori.core.invalidation import Invalidations
from mamori.store import schema as t
from mamori.store.database import Database

Clock = Callable[[], float]
Kind = Literal["key", "secret"]

ID_PATTERN = re.compile(r"kst-[a-z0-9]{21}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOPIC = "kms_instance"

# Alibaba sells 1,000, 2,000 and 4,000 QPS (and larger) tiers; Mamori accepts any whole number
# in this range, because it throttles in software and has no tiers to sell.
QPS_TIERS = (1000, 2000, 4000)
QPS_MIN, QPS_MAX = 1, 1_000_000
QUOTA_MAX = 10_000_000
VPC_QUOTA_MAX = 100
CONNECTED = "Connected"

# What CreateKmsInstance gives when a figure is not named (Alibaba's entry tier: 1,000 QPS).
DEFAULT_SPEC = 1000
DEFAULT_KEY_QUOTA = 1000
DEFAULT_SECRET_QUOTA = 100
DEFAULT_VPC_QUOTA = 5
# The default instance holds everything created without DKMSInstanceId, as everything was
# before instances existed: its quotas are set high so that nothing that worked stops working.
# Migration 0009 copies these figures.
DEFAULT_INSTANCE_NAME = "default"
DEFAULT_INSTANCE_KEY_QUOTA = 100_000
DEFAULT_INSTANCE_SECRET_QUOTA = 100_000


class InstanceNotFound(DomainError):
    """No such KMS instance in this account."""

    code = "Forbidden.DKMSInstanceNotFound"


class InstanceStateInvalid(DomainError):
    """The instance's state does not allow the operation (not connected; releasing one that
    still holds keys or secrets, or the default one)."""

    code = "Forbidden.DKMSInstanceStateInvalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


@dataclass(frozen=True, slots=True)
class BindVpc:
    """One VPC bound to an instance (UpdateKmsInstanceBindVpc), recorded as given."""

    vpc_id: str
    region_id: str
    vswitch_id: str
    vpc_owner_id: str = ""


@dataclass(frozen=True, slots=True)
class Instance:
    """One KMS instance as stored."""

    id: str
    account_id: str
    name: str
    spec: int
    key_quota: int
    secret_quota: int
    vpc_quota: int
    status: str
    vpc_id: str
    vswitch_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    km_provider: str
    bind_vpcs: tuple[BindVpc, ...]
    created_at: int

    @classmethod
    def from_row(cls, row: Any) -> Instance:
        """Build from a ``kms_instances`` row."""
        m = row._mapping
        return cls(
            id=m["id"],
            account_id=m["account_id"],
            name=m["name"],
            spec=int(m["spec"]),
            key_quota=int(m["key_quota"]),
            secret_quota=int(m["secret_quota"]),
            vpc_quota=int(m["vpc_quota"]),
            status=m["status"],
            vpc_id=m["vpc_id"],
            vswitch_ids=tuple(json.loads(m["vswitch_ids"])),
            zone_ids=tuple(json.loads(m["zone_ids"])),
            km_provider=m["km_provider"],
            bind_vpcs=tuple(BindVpc(**v) for v in json.loads(m["bind_vpcs"])),
            created_at=int(m["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class NewInstance:
    """What CreateKmsInstance asks for."""

    name: str = ""
    spec: int = DEFAULT_SPEC
    key_quota: int = DEFAULT_KEY_QUOTA
    secret_quota: int = DEFAULT_SECRET_QUOTA
    vpc_quota: int = DEFAULT_VPC_QUOTA


@dataclass(frozen=True, slots=True)
class Usage:
    """How many keys and secrets an instance holds."""

    keys: int
    secrets: int


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_id: dict[str, Instance]
    defaults: dict[str, str]  # account id → default instance id


def new_instance_id() -> str:
    """``kst-`` and 21 lower-case letters and digits, as Alibaba's instance ids."""
    return "kst-" + "".join(secrets.choice(_ALPHABET) for _ in range(21))


def check_figures(spec: int | None, key_quota: int | None, secret_quota: int | None) -> None:
    """The spec and quotas are whole numbers in Mamori's ranges (``InvalidParameter``)."""
    if spec is not None and not QPS_MIN <= spec <= QPS_MAX:
        raise InvalidInput("Spec", f"The QPS spec is {QPS_MIN} to {QPS_MAX}.")
    for name, value in (("KeyQuota", key_quota), ("SecretQuota", secret_quota)):
        if value is not None and not 0 <= value <= QUOTA_MAX:
            raise InvalidInput(name, f"A quota is 0 to {QUOTA_MAX}.")


class InstanceService:
    """KMS instances of every account on this store, with a cached view for the hot path."""

    def __init__(self, db: Database, clock: Clock, bus: Invalidations | None = None) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        # Bumped by every invalidation: a load that raced with one is not kept.
        self._generation = 0
        self._bus = bus or Invalidations()
        self._bus.register(TOPIC, lambda _ids: self._forget(), self._forget)
        # The CA chain clients trust for the TLS listener (GetKmsInstance's
        # CaCertificateChainPem); ``app.py`` sets it once the TLS files exist.
        self.ca_chain_pem = ""

    # -- the cached view (no store access once loaded) -----------------------------------------

    def _forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._snapshot = None

    def _view(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None:
            return snapshot
        generation = self._generation
        with self._db.read() as conn:
            by_id = {
                r.id: Instance.from_row(r) for r in conn.execute(select(t.kms_instances)).all()
            }
            defaults = {
                r.account_id: r.instance_id
                for r in conn.execute(select(t.kms_default_instances)).all()
            }
        snapshot = _Snapshot(by_id, defaults)
        with self._lock:
            if generation == self._generation:
                self._snapshot = snapshot
        return snapshot

    def get(self, instance_id: str) -> Instance | None:
        """The instance with this id (any account), or None: for the dedicated gateway, which
        asks on every request."""
        return self._view().by_id.get(instance_id)

    def qps_of(self, instance_id: str) -> int | None:
        """The instance's QPS spec, or None when there is no such instance."""
        found = self.get(instance_id)
        return None if found is None else found.spec

    def default_instance(self, account_id: str) -> Instance:
        """The account's default instance, created on first need."""
        found = self._view().defaults.get(account_id)
        if found is None:
            return self._create_default(account_id)
        return self._view().by_id[found]

    def belongs(self, account_id: str, instance_id: str) -> bool:
        """Whether ``instance_id`` is an instance of ``account_id`` (from memory)."""
        found = self.get(instance_id)
        return found is not None and found.account_id == account_id

    def require(self, account_id: str, instance_id: str) -> Instance:
        """The account's instance ``instance_id``, else ``InstanceNotFound``."""
        found = self.get(instance_id)
        if found is None or found.account_id != account_id:
            raise InstanceNotFound
        return found

    def placement(self, account_id: str, instance_id: str | None) -> Instance:
        """Where a new key or secret goes: the named instance, or the default one. It must be
        connected."""
        found = (
            self.require(account_id, instance_id)
            if instance_id
            else self.default_instance(account_id)
        )
        if found.status != CONNECTED:
            raise InstanceStateInvalid(f"The instance is {found.status}.")
        return found

    def list(self, account_id: str) -> list[Instance]:
        """The account's instances, oldest first."""
        found = [i for i in self._view().by_id.values() if i.account_id == account_id]
        return sorted(found, key=lambda i: (i.created_at, i.id))

    def is_default(self, instance: Instance) -> bool:
        """Whether ``instance`` is its account's default instance."""
        return self._view().defaults.get(instance.account_id) == instance.id

    # -- counts (store reads: management actions only) -----------------------------------------

    def usage(self, instance_id: str) -> Usage:
        """How many keys and secrets the instance holds."""
        with self._db.read() as conn:
            return _usage(conn, instance_id)

    # -- changes -------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._bus.publish(TOPIC)

    def _row(self, instance_id: str, account_id: str, new: NewInstance) -> dict[str, Any]:
        return {
            "id": instance_id,
            "account_id": account_id,
            "name": new.name or instance_id,
            "spec": new.spec,
            "key_quota": new.key_quota,
            "secret_quota": new.secret_quota,
            "vpc_quota": new.vpc_quota,
            "status": CONNECTED,
            "vpc_id": "",
            "vswitch_ids": "[]",
            "zone_ids": "[]",
            "km_provider": "",
            "bind_vpcs": "[]",
            "created_at": int(self._clock()),
        }

    def _create_default(self, account_id: str) -> Instance:
        instance_id = new_instance_id()
        new = NewInstance(
            name=DEFAULT_INSTANCE_NAME,
            key_quota=DEFAULT_INSTANCE_KEY_QUOTA,
            secret_quota=DEFAULT_INSTANCE_SECRET_QUOTA,
        )
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.kms_instances).values(self._row(instance_id, account_id, new))
                )
                conn.execute(
                    insert(t.kms_default_instances).values(
                        account_id=account_id, instance_id=instance_id
                    )
                )
        except IntegrityError:
            pass  # another node or worker made it first; its instance is the one
        self._changed()
        return self._view().by_id[self._view().defaults[account_id]]

    def create(self, account_id: str, new: NewInstance) -> Instance:
        """CreateKmsInstance (a Mamori extension): a new, connected instance."""
        check_figures(new.spec, new.key_quota, new.secret_quota)
        instance_id = new_instance_id()
        row = self._row(instance_id, account_id, new)
        with self._db.begin() as conn:
            conn.execute(insert(t.kms_instances).values(row))
        self._changed()
        return self.require(account_id, instance_id)

    def update(
        self,
        account_id: str,
        instance_id: str,
        spec: int | None = None,
        key_quota: int | None = None,
        secret_quota: int | None = None,
    ) -> Instance:
        """UpdateKmsInstance (a Mamori extension): a new spec or quotas. A quota may be set
        below what the instance holds: nothing is removed, new keys or secrets are refused."""
        check_figures(spec, key_quota, secret_quota)
        changes = {
            name: value
            for name, value in (
                ("spec", spec),
                ("key_quota", key_quota),
                ("secret_quota", secret_quota),
            )
            if value is not None
        }
        self.require(account_id, instance_id)
        if changes:
            self._write(account_id, instance_id, **changes)
        return self.require(account_id, instance_id)

    def connect(
        self,
        account_id: str,
        instance_id: str,
        km_provider: str,
        vpc_id: str,
        vswitch_ids: Sequence[str],
        zone_ids: Sequence[str],
    ) -> None:
        """ConnectKmsInstance: record the VPC, vSwitches and zones it is reached from, and
        mark it connected (Mamori's instances are connected from creation)."""
        self.require(account_id, instance_id)
        self._write(
            account_id,
            instance_id,
            km_provider=km_provider,
            vpc_id=vpc_id,
            vswitch_ids=json.dumps(list(vswitch_ids)),
            zone_ids=json.dumps(list(zone_ids)),
            status=CONNECTED,
        )

    def bind_vpcs(self, account_id: str, instance_id: str, vpcs: Sequence[BindVpc]) -> None:
        """UpdateKmsInstanceBindVpc: replace the bound VPCs (at most the VPC quota)."""
        found = self.require(account_id, instance_id)
        if len(vpcs) > found.vpc_quota:
            raise LimitExceeded(f"VPCs bound to KMS instance {instance_id}")
        self._write(
            account_id,
            instance_id,
            bind_vpcs=json.dumps(
                [
                    {
                        "vpc_id": v.vpc_id,
                        "region_id": v.region_id,
                        "vswitch_id": v.vswitch_id,
                        "vpc_owner_id": v.vpc_owner_id,
                    }
                    for v in vpcs
                ]
            ),
        )

    def _write(self, account_id: str, instance_id: str, **values: Any) -> None:
        with self._db.begin() as conn:
            done = conn.execute(
                update(t.kms_instances)
                .where(
                    t.kms_instances.c.id == instance_id,
                    t.kms_instances.c.account_id == account_id,
                )
                .values(**values)
            ).rowcount
        if not done:
            raise InstanceNotFound
        self._changed()

    def release(self, account_id: str, instance_id: str) -> None:
        """ReleaseKmsInstance: refused for the default instance and while the instance holds
        any key or secret (Alibaba would release them with it; Mamori never destroys keys
        that way: schedule their deletion first)."""
        self.require(account_id, instance_id)
        with self._db.begin() as conn:
            locked = _lock(conn, account_id, instance_id)
            if locked is None:
                raise InstanceNotFound
            is_default = conn.execute(
                select(t.kms_default_instances.c.account_id).where(
                    t.kms_default_instances.c.instance_id == instance_id
                )
            ).first()
            if is_default is not None:
                raise InstanceStateInvalid("The account's default instance cannot be released.")
            held = _usage(conn, instance_id)
            if held.keys or held.secrets:
                raise InstanceStateInvalid(
                    f"It holds {held.keys} key(s) and {held.secrets} secret(s)."
                )
            conn.execute(delete(t.kms_instances).where(t.kms_instances.c.id == instance_id))
        self._changed()

    def admit(self, conn: Connection, account_id: str, instance_id: str, kind: Kind) -> None:
        """Inside the writer's transaction, before it inserts a key or secret into
        ``instance_id``: lock the instance's row (so a concurrent creation or release waits)
        and refuse with ``Rejected.LimitExceeded`` when the quota is used up."""
        row = _lock(conn, account_id, instance_id)
        if row is None:
            raise InstanceNotFound
        if row.status != CONNECTED:
            raise InstanceStateInvalid(f"The instance is {row.status}.")
        held = _usage(conn, instance_id)
        used, quota = (
            (held.keys, row.key_quota) if kind == "key" else (held.secrets, row.secret_quota)
        )
        if used >= quota:
            raise LimitExceeded(f"{kind}s in KMS instance {instance_id} ({quota})")


def _lock(conn: Connection, account_id: str, instance_id: str) -> Any:
    # FOR UPDATE on PostgreSQL; SQLite's writers are serialized already (BEGIN IMMEDIATE).
    return conn.execute(
        select(t.kms_instances)
        .where(t.kms_instances.c.id == instance_id, t.kms_instances.c.account_id == account_id)
        .with_for_update()
    ).first()


def _usage(conn: Connection, instance_id: str) -> Usage:
    keys = conn.execute(
        select(func.count()).select_from(t.keys).where(t.keys.c.dkms_instance_id == instance_id)
    ).scalar_one()
    held = conn.execute(
        select(func.count())
        .select_from(t.secrets)
        .where(t.secrets.c.dkms_instance_id == instance_id)
    ).scalar_one()
    return Usage(int(keys), int(held))
