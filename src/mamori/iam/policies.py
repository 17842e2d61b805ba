"""RAM policies: custom policies and their versions, the system policies, and the documents that
apply to a principal (cached; any RAM change clears the cache). Attachments live in
``mamori.iam.attachments``; ``Policies.attachments`` is the one instance."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core import tags as tag_store
from mamori.core.cache import LruCache
from mamori.core.errors import InvalidInput
from mamori.core.invalidation import Invalidations
from mamori.iam.attachments import (
    CUSTOM,
    MAX_PER_PRINCIPAL,
    PRINCIPAL_TYPES,
    SYSTEM,
    Attachment,
    Attachments,
    lock_policy,
)
from mamori.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    RamLimitExceeded,
)
from mamori.iam.system_policies import SYSTEM_POLICIES
from mamori.store import schema as t
from mamori.store.database import Database

__all__ = [
    "CUSTOM",
    "PRINCIPAL_TYPES",
    "SYSTEM",
    "Attachment",
    "Policies",
    "PolicyInfo",
    "PolicyVersion",
]

MAX_VERSIONS = 5
MAX_POLICIES = 1500
TAG_TYPE = "ram-policy"
POLICY_NAME = r"[A-Za-z0-9-]{1,128}"
"""Custom policy names (the SDK's rule): 1–128 letters, digits and ``-``."""
_NAME = re.compile(POLICY_NAME)
_P = t.ram_policies
_V = t.ram_policy_versions


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A policy's metadata."""

    name: str
    policy_type: str
    description: str
    default_version: str
    created_at: int
    updated_at: int
    attachment_count: int = 0


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One version of a policy document."""

    version_id: str
    document: str
    is_default: bool
    created_at: int


def _number(version_id: str) -> int:
    # Versions are v1, v2, …: ordered by number, so v10 comes after v9.
    return int(version_id[1:]) if version_id[1:].isdigit() else 0


def _custom(row: Any) -> PolicyInfo:
    return PolicyInfo(
        row.name, CUSTOM, row.description, row.default_version, row.created_at, row.updated_at
    )


def _system(name: str) -> PolicyInfo:
    return PolicyInfo(name, SYSTEM, SYSTEM_POLICIES[name].description, "v1", 0, 0)


def _tag_id(account: str, name: str) -> str:
    return f"{account}:{name}"


class Policies:
    """Policy store; ``validate`` checks a document (the policy engine, injected)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        validate: Callable[[str], object],
        cache_size: int = 10_000,
        *,
        max_policies: int = MAX_POLICIES,
        max_versions: int = MAX_VERSIONS,
        max_per_principal: int = MAX_PER_PRINCIPAL,
        bus: Invalidations | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._validate = validate
        self._max_policies = max_policies
        self._max_versions = max_versions
        self._effective: LruCache[tuple[str, str, str], tuple[tuple[str, str], ...]] = LruCache(
            cache_size, "policy"
        )
        self._bus = bus or Invalidations()
        self._bus.register(
            "ram_policies", lambda _args: self._effective.clear(), self._effective.clear
        )
        self.attachments = Attachments(db, clock, self.changed, max_per_principal)

    def changed(self) -> None:
        """Forget every cached effective policy set (after any RAM change), on every node."""
        self._bus.publish("ram_policies")

    def _now(self) -> int:
        return int(self._clock())

    # -- custom policies ---------------------------------------------------------------------

    def create(
        self,
        account: str,
        name: str,
        document: str,
        description: str = "",
        tags: Sequence[tuple[str, str]] = (),
    ) -> PolicyInfo:
        """CreatePolicy: the document becomes version v1, the default."""
        if not _NAME.fullmatch(name):
            raise InvalidInput("PolicyName")
        if name in SYSTEM_POLICIES:
            raise EntityAlreadyExists("Policy", name)
        self._validate(document)
        tag_store.validate(tags, "Tag")
        now = self._now()
        try:
            with self._db.begin() as conn:
                count = conn.execute(
                    select(func.count()).select_from(_P).where(_P.c.account_id == account)
                ).scalar_one()
                if count >= self._max_policies:
                    raise RamLimitExceeded("Policy")
                conn.execute(
                    insert(_P).values(
                        account_id=account,
                        name=name,
                        description=description,
                        default_version="v1",
                        next_version=2,
                        created_at=now,
                        updated_at=now,
                    )
                )
                conn.execute(
                    insert(_V).values(
                        account_id=account,
                        policy_name=name,
                        version_id="v1",
                        document=document,
                        created_at=now,
                    )
                )
                tag_store.put(conn, account, TAG_TYPE, _tag_id(account, name), tags)
        except IntegrityError as exc:
            raise EntityAlreadyExists("Policy", name) from exc
        return PolicyInfo(name, CUSTOM, description, "v1", now, now)

    def get(self, account: str, name: str, policy_type: str) -> tuple[PolicyInfo, PolicyVersion]:
        """GetPolicy: metadata (with its AttachmentCount) and the default version."""
        if policy_type == SYSTEM:
            system = SYSTEM_POLICIES.get(name)
            if system is None:
                raise EntityNotExist("Policy", name)
            info, version = _system(name), PolicyVersion("v1", system.document, True, 0)
        else:
            with self._db.read() as conn:
                row = conn.execute(
                    select(_P).where(_P.c.account_id == account, _P.c.name == name)
                ).first()
                if row is None:
                    raise EntityNotExist("Policy", name)
                found = conn.execute(
                    select(_V).where(
                        _V.c.account_id == account,
                        _V.c.policy_name == name,
                        _V.c.version_id == row.default_version,
                    )
                ).one()
            info = _custom(row)
            version = PolicyVersion(found.version_id, found.document, True, found.created_at)
        count = self.attachments.counts(account).get((policy_type, name), 0)
        return replace(info, attachment_count=count), version

    def listing(self, account: str, policy_type: str | None) -> list[PolicyInfo]:
        """ListPolicies: system then custom policies, each by name, with AttachmentCount."""
        result: list[PolicyInfo] = []
        if policy_type in (None, SYSTEM):
            result += [_system(name) for name in sorted(SYSTEM_POLICIES)]
        if policy_type in (None, CUSTOM):
            with self._db.read() as conn:
                rows = conn.execute(
                    select(_P).where(_P.c.account_id == account).order_by(_P.c.name)
                ).all()
            result += sorted((_custom(r) for r in rows), key=lambda p: p.name)
        counts = self.attachments.counts(account)
        return [replace(p, attachment_count=counts.get((p.policy_type, p.name), 0)) for p in result]

    def tags(self, account: str, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """Tags of custom policies, by policy name."""
        found = tag_store.of(self._db, TAG_TYPE, [_tag_id(account, n) for n in names])
        return {key.split(":", 1)[1]: value for key, value in found.items()}

    def delete(self, account: str, name: str, cascade: bool = False) -> None:
        """DeletePolicy: refused while attached, and (unless ``cascade``) while it has
        versions besides the default."""
        with self._db.begin() as conn:
            row = lock_policy(conn, account, CUSTOM, name)
            attached = conn.execute(
                select(t.ram_attachments.c.principal_type)
                .where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.policy_type == CUSTOM,
                    t.ram_attachments.c.policy_name == name,
                )
                .order_by(t.ram_attachments.c.principal_type.desc())  # User, Role, Group
            ).first()
            if attached is not None:
                raise DeleteConflict(f"Policy.{attached.principal_type}", name)
            others = [v for v in self._versions(conn, account, name) if v != row.default_version]
            if others and not cascade:
                raise DeleteConflict("Policy.Version", name)
            conn.execute(delete(_V).where(_V.c.account_id == account, _V.c.policy_name == name))
            conn.execute(delete(_P).where(_P.c.account_id == account, _P.c.name == name))
            tag_store.drop_resource(conn, TAG_TYPE, _tag_id(account, name))
        self.changed()

    # -- versions ----------------------------------------------------------------------------

    def create_version(
        self,
        account: str,
        name: str,
        document: str,
        set_as_default: bool,
        rotate: bool = False,
    ) -> PolicyVersion:
        """CreatePolicyVersion; with ``rotate`` the oldest non-default version makes room."""
        self._validate(document)
        now = self._now()
        with self._db.begin() as conn:
            # Locked: two versions created at once must not both take the same number.
            row = lock_policy(conn, account, CUSTOM, name)
            versions = self._versions(conn, account, name)
            if len(versions) >= self._max_versions:
                victims = [v for v in versions if v != row.default_version]
                if not rotate or not victims:
                    raise RamLimitExceeded("Policy.Version")
                self._drop_version(conn, account, name, victims[0])
            version_id = f"v{row.next_version}"
            conn.execute(
                insert(_V).values(
                    account_id=account,
                    policy_name=name,
                    version_id=version_id,
                    document=document,
                    created_at=now,
                )
            )
            values: dict[str, Any] = {"next_version": row.next_version + 1, "updated_at": now}
            if set_as_default:
                values["default_version"] = version_id
            conn.execute(
                update(_P).where(_P.c.account_id == account, _P.c.name == name).values(**values)
            )
        self.changed()
        return PolicyVersion(version_id, document, set_as_default, now)

    def get_version(
        self, account: str, name: str, policy_type: str, version_id: str
    ) -> PolicyVersion:
        """GetPolicyVersion."""
        for version in self.versions(account, name, policy_type):
            if version.version_id == version_id:
                return version
        raise EntityNotExist("Policy.Version", version_id)

    def set_default_version(self, account: str, name: str, version_id: str) -> None:
        """SetDefaultPolicyVersion."""
        with self._db.begin() as conn:
            lock_policy(conn, account, CUSTOM, name)
            if version_id not in self._versions(conn, account, name):
                raise EntityNotExist("Policy.Version", version_id)
            conn.execute(
                update(_P)
                .where(_P.c.account_id == account, _P.c.name == name)
                .values(default_version=version_id, updated_at=self._now())
            )
        self.changed()

    def versions(self, account: str, name: str, policy_type: str) -> list[PolicyVersion]:
        """ListPolicyVersions, oldest first."""
        if policy_type == SYSTEM:
            return [self.get(account, name, SYSTEM)[1]]
        with self._db.read() as conn:
            row = conn.execute(
                select(_P.c.default_version).where(_P.c.account_id == account, _P.c.name == name)
            ).first()
            if row is None:
                raise EntityNotExist("Policy", name)
            rows = conn.execute(
                select(_V).where(_V.c.account_id == account, _V.c.policy_name == name)
            ).all()
        return [
            PolicyVersion(
                v.version_id, v.document, v.version_id == row.default_version, v.created_at
            )
            for v in sorted(rows, key=lambda v: _number(v.version_id))
        ]

    def delete_version(self, account: str, name: str, version_id: str) -> None:
        """DeletePolicyVersion: the default version cannot be deleted."""
        with self._db.begin() as conn:
            row = lock_policy(conn, account, CUSTOM, name)
            if version_id == row.default_version:
                raise DeleteConflict("Policy.Version.Default", version_id)
            if not self._drop_version(conn, account, name, version_id):
                raise EntityNotExist("Policy.Version", version_id)
        self.changed()

    @staticmethod
    def _versions(conn: Connection, account: str, name: str) -> list[str]:
        ids = conn.execute(
            select(_V.c.version_id).where(_V.c.account_id == account, _V.c.policy_name == name)
        ).scalars()
        return sorted(ids, key=_number)

    @staticmethod
    def _drop_version(conn: Connection, account: str, name: str, version_id: str) -> int:
        return int(
            conn.execute(
                delete(_V).where(
                    _V.c.account_id == account,
                    _V.c.policy_name == name,
                    _V.c.version_id == version_id,
                )
            ).rowcount
        )

    # -- what applies to a principal ---------------------------------------------------------

    def effective(
        self, account: str, principal_type: str, principal: str
    ) -> tuple[tuple[str, str], ...]:
        """(policy name, default document) of every policy that applies to a user (directly
        and through its groups) or a role; cached until the next RAM change."""
        return (
            self._effective.get_or_load((account, principal_type, principal), self._load_effective)
            or ()
        )

    def _load_effective(self, key: tuple[str, str, str]) -> tuple[tuple[str, str], ...]:
        account, kind, principal = key
        a = t.ram_attachments
        # Role names match in any case: a session carries the name as its ARN spells it.
        name_matches = (
            func.lower(a.c.principal_name) == principal.lower()
            if kind == "Role"
            else a.c.principal_name == principal
        )
        holder = (a.c.principal_type == kind) & name_matches
        with self._db.read() as conn:
            if kind == "User":
                groups = select(t.ram_group_members.c.group_name).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.user_name == principal,
                )
                holder = holder | ((a.c.principal_type == "Group") & a.c.principal_name.in_(groups))
            attached = conn.execute(
                select(a.c.policy_type, a.c.policy_name)
                .where(a.c.account_id == account, holder)
                .distinct()
            ).all()
            custom = sorted(r.policy_name for r in attached if r.policy_type == CUSTOM)
            rows = conn.execute(
                select(_V.c.policy_name, _V.c.document)
                .join(
                    _P,
                    (_P.c.account_id == _V.c.account_id)
                    & (_P.c.name == _V.c.policy_name)
                    & (_P.c.default_version == _V.c.version_id),
                )
                .where(_P.c.account_id == account, _P.c.name.in_(custom))
            ).all()
        documents = {r.policy_name: r.document for r in rows}
        named = [
            (f"{SYSTEM}:{r.policy_name}", SYSTEM_POLICIES[r.policy_name].document)
            for r in sorted(attached, key=lambda r: r.policy_name)
            if r.policy_type == SYSTEM and r.policy_name in SYSTEM_POLICIES
        ]
        # An attachment whose policy vanished (never expected) is skipped, not a 500 on every
        # request of that principal.
        named += [(f"{CUSTOM}:{n}", documents[n]) for n in custom if n in documents]
        return tuple(named)
