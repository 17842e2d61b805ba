"""Which policies are attached to which users, groups and roles.

Every write locks what it depends on inside its own transaction (the principal's row and, for a
custom policy, the policy's row), so a concurrent DeleteUser, DeleteRole or DeletePolicy either
sees the attachment or makes the attach fail: no attachment ever points at nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from mamori.iam.errors import EntityAlreadyExists, EntityNotExist, RamLimitExceeded
from mamori.iam.roles import role_arn
from mamori.iam.system_policies import SYSTEM_POLICIES
from mamori.store import schema as t
from mamori.store.database import Database

SYSTEM = "System"
CUSTOM = "Custom"
PRINCIPAL_TYPES = ("User", "Group", "Role")
MAX_PER_PRINCIPAL = 25
_A = t.ram_attachments


def _holders_of(conn: Connection, table: Any, kind: str, on: Any, *columns: Any) -> list[Any]:
    """The holders of one kind a policy is attached to, by name, with when it was attached."""
    return list(
        conn.execute(
            select(table.c.name, *columns, _A.c.attached_at)
            .join(
                _A,
                and_(
                    _A.c.principal_type == kind,
                    _A.c.principal_name == table.c.name,
                    _A.c.account_id == table.c.account_id,
                ),
            )
            .where(*on)
            .order_by(table.c.name)
        ).all()
    )


@dataclass(frozen=True, slots=True)
class Attachment:
    """A policy attached to a principal, with what ListPoliciesFor* shows of the policy."""

    policy_name: str
    policy_type: str
    attached_at: int
    description: str
    default_version: str


@dataclass(frozen=True, slots=True)
class AttachedUser:
    """A user a policy is attached to."""

    name: str
    user_id: str
    display_name: str
    attached_at: int


@dataclass(frozen=True, slots=True)
class AttachedGroup:
    """A group a policy is attached to."""

    name: str
    comments: str
    attached_at: int


@dataclass(frozen=True, slots=True)
class AttachedRole:
    """A role a policy is attached to."""

    name: str
    role_id: str
    description: str
    arn: str
    attached_at: int


@dataclass(frozen=True, slots=True)
class Entities:
    """Everything one policy is attached to (ListEntitiesForPolicy)."""

    users: list[AttachedUser]
    groups: list[AttachedGroup]
    roles: list[AttachedRole]


def lock_policy(conn: Connection, account: str, policy_type: str, name: str) -> Any:
    """A custom policy's row, locked for this transaction (None for a system policy);
    EntityNotExist.Policy when there is no such policy."""
    if policy_type == SYSTEM:
        if name not in SYSTEM_POLICIES:
            raise EntityNotExist("Policy", name)
        return None
    row = conn.execute(
        select(t.ram_policies)
        .where(t.ram_policies.c.account_id == account, t.ram_policies.c.name == name)
        .with_for_update()
    ).first()
    if row is None:
        raise EntityNotExist("Policy", name)
    return row


_HOLDERS = {"User": t.ram_users, "Group": t.ram_groups, "Role": t.ram_roles}


def resolve_principal(conn: Connection, account: str, kind: str, name: str, *, lock: bool) -> str:
    """The principal's stored name, its row locked with ``lock``; EntityNotExist.<kind> when
    there is none. Role names match in any case, as RAM's do."""
    table = _HOLDERS[kind]
    named = func.lower(table.c.name) == name.lower() if kind == "Role" else table.c.name == name
    query = select(table.c.name).where(table.c.account_id == account, named)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise EntityNotExist(kind, name)
    return str(row.name)


def _one(account: str, policy_type: str, name: str, kind: str, principal: str) -> Any:
    return and_(
        _A.c.account_id == account,
        _A.c.policy_type == policy_type,
        _A.c.policy_name == name,
        _A.c.principal_type == kind,
        _A.c.principal_name == principal,
    )


class Attachments:
    """AttachPolicyTo*, DetachPolicyFrom*, ListPoliciesFor*, ListEntitiesForPolicy;
    ``on_change`` runs after each commit so cached effective policies follow at once."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        on_change: Callable[[], None],
        max_per_principal: int = MAX_PER_PRINCIPAL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = on_change
        self._max = max_per_principal

    def attach(self, account: str, policy_type: str, name: str, kind: str, principal: str) -> None:
        """Attach; the principal is checked before the policy, as RAM reports them."""
        with self._db.begin() as conn:
            stored = resolve_principal(conn, account, kind, principal, lock=True)
            lock_policy(conn, account, policy_type, name)
            if conn.execute(
                select(_A.c.attached_at).where(_one(account, policy_type, name, kind, stored))
            ).first():
                raise EntityAlreadyExists(f"{kind}.Policy", name)
            held = conn.execute(
                select(func.count())
                .select_from(_A)
                .where(
                    _A.c.account_id == account,
                    _A.c.principal_type == kind,
                    _A.c.principal_name == stored,
                )
            ).scalar_one()
            if held >= self._max:
                raise RamLimitExceeded(f"{kind}.Policy")
            try:
                conn.execute(
                    insert(_A).values(
                        account_id=account,
                        policy_type=policy_type,
                        policy_name=name,
                        principal_type=kind,
                        principal_name=stored,
                        attached_at=int(self._clock()),
                    )
                )
            except IntegrityError as exc:  # the same attachment racing in on PostgreSQL
                raise EntityAlreadyExists(f"{kind}.Policy", name) from exc
        self._changed()

    def detach(self, account: str, policy_type: str, name: str, kind: str, principal: str) -> None:
        """Detach; EntityNotExist.<kind>.Policy when the policy is not attached there."""
        with self._db.begin() as conn:
            stored = resolve_principal(conn, account, kind, principal, lock=True)
            lock_policy(conn, account, policy_type, name)
            removed = conn.execute(
                delete(_A).where(_one(account, policy_type, name, kind, stored))
            ).rowcount
            if not removed:
                raise EntityNotExist(f"{kind}.Policy", name)
        self._changed()

    def of_principal(self, account: str, kind: str, principal: str) -> list[Attachment]:
        """ListPoliciesFor{User,Group,Role}, by policy name."""
        p = t.ram_policies
        with self._db.read() as conn:
            stored = resolve_principal(conn, account, kind, principal, lock=False)
            rows = conn.execute(
                select(
                    _A.c.policy_type,
                    _A.c.policy_name,
                    _A.c.attached_at,
                    p.c.description,
                    p.c.default_version,
                )
                .select_from(
                    _A.outerjoin(
                        p,
                        and_(
                            p.c.account_id == _A.c.account_id,
                            p.c.name == _A.c.policy_name,
                            _A.c.policy_type == CUSTOM,
                        ),
                    )
                )
                .where(
                    _A.c.account_id == account,
                    _A.c.principal_type == kind,
                    _A.c.principal_name == stored,
                )
            ).all()
        result: list[Attachment] = []
        for r in rows:
            system = SYSTEM_POLICIES.get(r.policy_name) if r.policy_type == SYSTEM else None
            description = system.description if system else r.description or ""
            default = "v1" if system else r.default_version or ""
            result.append(
                Attachment(r.policy_name, r.policy_type, r.attached_at, description, default)
            )
        return sorted(result, key=lambda a: (a.policy_type, a.policy_name))

    def of_policy(self, account: str, policy_type: str, name: str) -> Entities:
        """ListEntitiesForPolicy: every user, group and role the policy is attached to."""
        on = (_A.c.account_id == account, _A.c.policy_type == policy_type, _A.c.policy_name == name)
        u, g, r = t.ram_users, t.ram_groups, t.ram_roles
        with self._db.read() as conn:
            if policy_type == SYSTEM:
                lock_policy(conn, account, SYSTEM, name)  # only checks it exists
            elif (
                conn.execute(
                    select(t.ram_policies.c.name).where(
                        t.ram_policies.c.account_id == account, t.ram_policies.c.name == name
                    )
                ).first()
                is None
            ):
                raise EntityNotExist("Policy", name)
            users = _holders_of(conn, u, "User", on, u.c.user_id, u.c.display_name)
            groups = _holders_of(conn, g, "Group", on, g.c.comments)
            roles = _holders_of(conn, r, "Role", on, r.c.role_id, r.c.description)
        return Entities(
            [AttachedUser(x.name, x.user_id, x.display_name, x.attached_at) for x in users],
            [AttachedGroup(x.name, x.comments, x.attached_at) for x in groups],
            [
                AttachedRole(
                    x.name,
                    x.role_id,
                    x.description,
                    role_arn(account, x.name),
                    x.attached_at,
                )
                for x in roles
            ],
        )

    def counts(self, account: str) -> dict[tuple[str, str], int]:
        """AttachmentCount of every attached policy: (type, name) → principals."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(_A.c.policy_type, _A.c.policy_name, func.count())
                .where(_A.c.account_id == account)
                .group_by(_A.c.policy_type, _A.c.policy_name)
            ).all()
        return {(row[0], row[1]): int(row[2]) for row in rows}
