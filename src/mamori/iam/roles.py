"""RAM roles: a trust policy saying who may assume them, and a maximum session length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.errors import InvalidInput
from mamori.iam.directory import check_name, new_numeric_id
from mamori.iam.errors import DeleteConflict, EntityAlreadyExists, EntityNotExist
from mamori.store import schema as t
from mamori.store.database import Database

SESSION_MIN = 3600
SESSION_MAX = 43200


@dataclass(frozen=True, slots=True)
class Role:
    """A RAM role."""

    account_id: str
    name: str
    role_id: str
    description: str
    assume_role_policy: str
    max_session_duration: int
    created_at: int
    updated_at: int

    @property
    def arn(self) -> str:
        """``acs:ram::{account}:role/{lower-cased name}`` (Alibaba lower-cases role ARNs)."""
        return f"acs:ram::{self.account_id}:role/{self.name.lower()}"


def _role(row: Any) -> Role:
    return Role(
        row.account_id,
        row.name,
        row.role_id,
        row.description,
        row.assume_role_policy,
        row.max_session_duration,
        row.created_at,
        row.updated_at,
    )


def _check_duration(seconds: int) -> None:
    if not SESSION_MIN <= seconds <= SESSION_MAX:
        raise InvalidInput("MaxSessionDuration", f"It must be {SESSION_MIN} to {SESSION_MAX}.")


class Roles:
    """CreateRole, GetRole, ListRoles, UpdateRole, DeleteRole; ``validate_trust`` checks a
    trust policy document (the policy engine, injected by ``app.py``)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        validate_trust: Callable[[str], object],
        on_change: Callable[[], None],
    ) -> None:
        self._db = db
        self._clock = clock
        self._validate = validate_trust
        self._changed = on_change

    def create(
        self, account: str, name: str, trust: str, description: str = "", max_session: int = 3600
    ) -> Role:
        """CreateRole."""
        check_name("RoleName", name)
        self._validate(trust)
        _check_duration(max_session)
        now = int(self._clock())
        role = Role(account, name, new_numeric_id(19), description, trust, max_session, now, now)
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.ram_roles).values(
                        account_id=account,
                        name=name,
                        role_id=role.role_id,
                        description=description,
                        assume_role_policy=trust,
                        max_session_duration=max_session,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise EntityAlreadyExists("Role", name) from exc
        return role

    def get(self, account: str, name: str) -> Role:
        """GetRole (role names are matched without regard to case, as their ARNs are)."""
        with self._db.read() as conn:
            row = conn.execute(
                select(t.ram_roles).where(
                    t.ram_roles.c.account_id == account,
                    func.lower(t.ram_roles.c.name) == name.lower(),
                )
            ).first()
        if row is None:
            raise EntityNotExist("Role", name)
        return _role(row)

    def listing(self, account: str, after: str, limit: int) -> tuple[list[Role], bool]:
        """ListRoles by name after the marker; (page, more follow)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_roles)
                .where(t.ram_roles.c.account_id == account, t.ram_roles.c.name > after)
                .order_by(t.ram_roles.c.name)
                .limit(limit + 1)
            ).all()
        return [_role(r) for r in rows[:limit]], len(rows) > limit

    def update(
        self,
        account: str,
        name: str,
        trust: str | None = None,
        description: str | None = None,
        max_session: int | None = None,
    ) -> Role:
        """UpdateRole."""
        role = self.get(account, name)
        values: dict[str, Any] = {"updated_at": int(self._clock())}
        if trust is not None:
            self._validate(trust)
            values["assume_role_policy"] = trust
        if description is not None:
            values["description"] = description
        if max_session is not None:
            _check_duration(max_session)
            values["max_session_duration"] = max_session
        with self._db.begin() as conn:
            conn.execute(
                update(t.ram_roles)
                .where(t.ram_roles.c.account_id == account, t.ram_roles.c.name == role.name)
                .values(**values)
            )
        self._changed()
        return self.get(account, role.name)

    def delete(self, account: str, name: str) -> None:
        """DeleteRole: refused while policies are attached."""
        role = self.get(account, name)
        with self._db.begin() as conn:
            if conn.execute(
                select(t.ram_attachments.c.policy_name).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.principal_type == "Role",
                    t.ram_attachments.c.principal_name == role.name,
                )
            ).first():
                raise DeleteConflict("Role.Policy", role.name)
            conn.execute(
                delete(t.ram_roles).where(
                    t.ram_roles.c.account_id == account, t.ram_roles.c.name == role.name
                )
            )
        self._changed()
