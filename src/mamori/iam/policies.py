"""RAM policies: custom policies and their versions, the system policies, attachments to users,
groups and roles, and the documents that apply to a principal (cached; any change clears it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.cache import LruCache
from mamori.core.errors import InvalidInput
from mamori.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    RamLimitExceeded,
)
from mamori.iam.system_policies import SYSTEM_POLICIES
from mamori.store import schema as t
from mamori.store.database import Database

SYSTEM = "System"
CUSTOM = "Custom"
PRINCIPAL_TYPES = ("User", "Group", "Role")
MAX_VERSIONS = 5
_NAME = re.compile(r"^[A-Za-z0-9-]{1,128}$")


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


@dataclass(frozen=True, slots=True)
class Attachment:
    """A policy attached to a principal."""

    policy_name: str
    policy_type: str
    attached_at: int


class Policies:
    """Policy store and attachments; ``validate`` checks a document (the policy engine)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        validate: Callable[[str], object],
        cache_size: int = 10_000,
    ) -> None:
        self._db = db
        self._clock = clock
        self._validate = validate
        self._effective: LruCache[tuple[str, str, str], tuple[tuple[str, str], ...]] = LruCache(
            cache_size
        )

    def changed(self) -> None:
        """Forget every cached effective policy set (after any RAM change)."""
        self._effective.clear()

    def _now(self) -> int:
        return int(self._clock())

    # -- custom policies ---------------------------------------------------------------------

    def create(self, account: str, name: str, document: str, description: str = "") -> PolicyInfo:
        """CreatePolicy: the document becomes version v1, the default."""
        if not _NAME.match(name):
            raise InvalidInput("PolicyName")
        if name in SYSTEM_POLICIES:
            raise EntityAlreadyExists("Policy", name)
        self._validate(document)
        now = self._now()
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.ram_policies).values(
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
                    insert(t.ram_policy_versions).values(
                        account_id=account,
                        policy_name=name,
                        version_id="v1",
                        document=document,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise EntityAlreadyExists("Policy", name) from exc
        return PolicyInfo(name, CUSTOM, description, "v1", now, now)

    def get(self, account: str, name: str, policy_type: str) -> tuple[PolicyInfo, PolicyVersion]:
        """GetPolicy: metadata and the default version."""
        if policy_type == SYSTEM:
            system = SYSTEM_POLICIES.get(name)
            if system is None:
                raise EntityNotExist("Policy", name)
            info = PolicyInfo(name, SYSTEM, system.description, "v1", 0, 0)
            return info, PolicyVersion("v1", system.document, True, 0)
        with self._db.read() as conn:
            row = conn.execute(
                select(t.ram_policies).where(
                    t.ram_policies.c.account_id == account, t.ram_policies.c.name == name
                )
            ).first()
            if row is None:
                raise EntityNotExist("Policy", name)
            version = conn.execute(
                select(t.ram_policy_versions).where(
                    t.ram_policy_versions.c.account_id == account,
                    t.ram_policy_versions.c.policy_name == name,
                    t.ram_policy_versions.c.version_id == row.default_version,
                )
            ).one()
        info = PolicyInfo(
            name, CUSTOM, row.description, row.default_version, row.created_at, row.updated_at
        )
        return info, PolicyVersion(version.version_id, version.document, True, version.created_at)

    def listing(self, account: str, policy_type: str | None) -> list[PolicyInfo]:
        """ListPolicies: system then custom policies, by name."""
        result: list[PolicyInfo] = []
        if policy_type in (None, SYSTEM):
            result += [
                PolicyInfo(p.name, SYSTEM, p.description, "v1", 0, 0)
                for p in sorted(SYSTEM_POLICIES.values(), key=lambda p: p.name)
            ]
        if policy_type in (None, CUSTOM):
            with self._db.read() as conn:
                rows = conn.execute(
                    select(t.ram_policies)
                    .where(t.ram_policies.c.account_id == account)
                    .order_by(t.ram_policies.c.name)
                ).all()
            result += [
                PolicyInfo(
                    r.name, CUSTOM, r.description, r.default_version, r.created_at, r.updated_at
                )
                for r in rows
            ]
        return result

    def delete(self, account: str, name: str) -> None:
        """DeletePolicy: refused while attached or while it has non-default versions."""
        self.get(account, name, CUSTOM)
        with self._db.begin() as conn:
            attached = conn.execute(
                select(t.ram_attachments.c.principal_type).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.policy_type == CUSTOM,
                    t.ram_attachments.c.policy_name == name,
                )
            ).first()
            if attached is not None:
                raise DeleteConflict(f"Policy.{attached.principal_type}", name)
            versions = conn.execute(
                select(t.ram_policy_versions.c.version_id).where(
                    t.ram_policy_versions.c.account_id == account,
                    t.ram_policy_versions.c.policy_name == name,
                )
            ).all()
            if len(versions) > 1:
                raise DeleteConflict("Policy.Version", name)
            conn.execute(
                delete(t.ram_policy_versions).where(
                    t.ram_policy_versions.c.account_id == account,
                    t.ram_policy_versions.c.policy_name == name,
                )
            )
            conn.execute(
                delete(t.ram_policies).where(
                    t.ram_policies.c.account_id == account, t.ram_policies.c.name == name
                )
            )
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
        info, _ = self.get(account, name, CUSTOM)
        now = self._now()
        with self._db.begin() as conn:
            row = conn.execute(
                select(t.ram_policies.c.next_version).where(
                    t.ram_policies.c.account_id == account, t.ram_policies.c.name == name
                )
            ).one()
            versions = self._versions(conn, account, name)
            if len(versions) >= MAX_VERSIONS:
                victims = [v for v in versions if v.version_id != info.default_version]
                if not rotate or not victims:
                    raise RamLimitExceeded("Policy.Version")
                self._drop_version(conn, account, name, victims[0].version_id)
            version_id = f"v{row.next_version}"
            conn.execute(
                insert(t.ram_policy_versions).values(
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
                update(t.ram_policies)
                .where(t.ram_policies.c.account_id == account, t.ram_policies.c.name == name)
                .values(**values)
            )
        self.changed()
        return PolicyVersion(version_id, document, set_as_default, now)

    def set_default_version(self, account: str, name: str, version_id: str) -> None:
        """SetDefaultPolicyVersion."""
        self.get(account, name, CUSTOM)
        with self._db.begin() as conn:
            if not any(v.version_id == version_id for v in self._versions(conn, account, name)):
                raise EntityNotExist("Policy.Version", version_id)
            conn.execute(
                update(t.ram_policies)
                .where(t.ram_policies.c.account_id == account, t.ram_policies.c.name == name)
                .values(default_version=version_id, updated_at=self._now())
            )
        self.changed()

    def versions(self, account: str, name: str, policy_type: str) -> list[PolicyVersion]:
        """ListPolicyVersions."""
        info, default = self.get(account, name, policy_type)
        if policy_type == SYSTEM:
            return [default]
        with self._db.read() as conn:
            return [
                PolicyVersion(
                    v.version_id, v.document, v.version_id == info.default_version, v.created_at
                )
                for v in self._versions(conn, account, name)
            ]

    def delete_version(self, account: str, name: str, version_id: str) -> None:
        """DeletePolicyVersion: the default version cannot be deleted."""
        info, _ = self.get(account, name, CUSTOM)
        if version_id == info.default_version:
            raise DeleteConflict("Policy.Version.Default", version_id)
        with self._db.begin() as conn:
            if not self._drop_version(conn, account, name, version_id):
                raise EntityNotExist("Policy.Version", version_id)
        self.changed()

    @staticmethod
    def _versions(conn: Any, account: str, name: str) -> list[Any]:
        return list(
            conn.execute(
                select(t.ram_policy_versions)
                .where(
                    t.ram_policy_versions.c.account_id == account,
                    t.ram_policy_versions.c.policy_name == name,
                )
                .order_by(t.ram_policy_versions.c.created_at, t.ram_policy_versions.c.version_id)
            ).all()
        )

    @staticmethod
    def _drop_version(conn: Any, account: str, name: str, version_id: str) -> int:
        return int(
            conn.execute(
                delete(t.ram_policy_versions).where(
                    t.ram_policy_versions.c.account_id == account,
                    t.ram_policy_versions.c.policy_name == name,
                    t.ram_policy_versions.c.version_id == version_id,
                )
            ).rowcount
        )

    # -- attachments -------------------------------------------------------------------------

    def attach(
        self, account: str, policy_type: str, name: str, principal_type: str, principal: str
    ) -> None:
        """AttachPolicyTo{User,Group,Role}; the principal must already exist."""
        self.get(account, name, policy_type)
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.ram_attachments).values(
                        account_id=account,
                        policy_type=policy_type,
                        policy_name=name,
                        principal_type=principal_type,
                        principal_name=principal,
                        attached_at=self._now(),
                    )
                )
        except IntegrityError as exc:
            raise EntityAlreadyExists(f"{principal_type}.Policy", name) from exc
        self.changed()

    def detach(
        self, account: str, policy_type: str, name: str, principal_type: str, principal: str
    ) -> None:
        """DetachPolicyFrom{User,Group,Role}."""
        self.get(account, name, policy_type)
        with self._db.begin() as conn:
            removed = conn.execute(
                delete(t.ram_attachments).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.policy_type == policy_type,
                    t.ram_attachments.c.policy_name == name,
                    t.ram_attachments.c.principal_type == principal_type,
                    t.ram_attachments.c.principal_name == principal,
                )
            ).rowcount
        if not removed:
            raise EntityNotExist(f"{principal_type}.Policy", name)
        self.changed()

    def attached_to(self, account: str, principal_type: str, principal: str) -> list[Attachment]:
        """ListPoliciesFor{User,Group,Role}."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_attachments)
                .where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.principal_type == principal_type,
                    t.ram_attachments.c.principal_name == principal,
                )
                .order_by(t.ram_attachments.c.policy_name)
            ).all()
        return [Attachment(r.policy_name, r.policy_type, r.attached_at) for r in rows]

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
        account, principal_type, principal = key
        holders = [(principal_type, principal)]
        with self._db.read() as conn:
            if principal_type == "User":
                holders += [
                    ("Group", g)
                    for g in conn.execute(
                        select(t.ram_group_members.c.group_name).where(
                            t.ram_group_members.c.account_id == account,
                            t.ram_group_members.c.user_name == principal,
                        )
                    ).scalars()
                ]
            attachments: list[Any] = []
            for kind, name in holders:
                attachments += conn.execute(
                    select(t.ram_attachments.c.policy_type, t.ram_attachments.c.policy_name).where(
                        t.ram_attachments.c.account_id == account,
                        t.ram_attachments.c.principal_type == kind,
                        t.ram_attachments.c.principal_name == name,
                    )
                ).all()
        documents = []
        for policy_type, name in sorted(set(attachments)):
            _, version = self.get(account, name, policy_type)
            documents.append((f"{policy_type}:{name}", version.document))
        return tuple(documents)
