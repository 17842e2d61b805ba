"""RAM roles: a trust policy saying who may assume them, a maximum session length, and tags."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core import tags as tag_store
from mamori.core.errors import InvalidInput
from mamori.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    RamLimitExceeded,
)
from mamori.iam.holders import has_policies
from mamori.iam.names import new_numeric_id
from mamori.store import schema as t
from mamori.store.database import Database

SESSION_MIN = 3600
SESSION_MAX = 43200
MAX_ROLES = 1000
TAG_TYPE = "ram-role"
ROLE_NAME = r"[A-Za-z0-9.-]{1,64}"
"""Role names (the SDK's rule): 1–64 letters, digits, ``.`` and ``-``."""
_ROLE_NAME = re.compile(ROLE_NAME)


def role_arn(account: str, name: str) -> str:
    """``acs:ram::{account}:role/{name}``, in the case the role was created with (as Alibaba's
    GetRole and ListRoles show it); policies match role names in any case
    (``mamori.iam.conditions.ArnPatterns``)."""
    return f"acs:ram::{account}:role/{name}"


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
        """The role's ARN."""
        return role_arn(self.account_id, self.name)


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


def _check_duration(param: str, seconds: int) -> None:
    if not SESSION_MIN <= seconds <= SESSION_MAX:
        raise InvalidInput(param, f"It must be {SESSION_MIN} to {SESSION_MAX}.")


def _named(account: str, name: str) -> Any:
    # Role names are unique without regard to case, and looked up in any case, as RAM does.
    return (t.ram_roles.c.account_id == account, func.lower(t.ram_roles.c.name) == name.lower())


def lock_role(conn: Connection, account: str, name: str) -> Role:
    """The role (any case of its name), its row locked for this transaction."""
    row = conn.execute(select(t.ram_roles).where(*_named(account, name)).with_for_update()).first()
    if row is None:
        raise EntityNotExist("Role", name)
    return _role(row)


class Roles:
    """CreateRole, GetRole, ListRoles, UpdateRole, DeleteRole; ``validate_trust`` checks a
    trust policy document (the policy engine, injected by ``app.py``)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        validate_trust: Callable[[str], object],
        on_change: Callable[[], None],
        max_roles: int = MAX_ROLES,
    ) -> None:
        self._db = db
        self._clock = clock
        self._validate = validate_trust
        self._changed = on_change
        self._max_roles = max_roles

    def create(
        self,
        account: str,
        name: str,
        trust: str,
        description: str = "",
        max_session: int = SESSION_MIN,
        tags: Sequence[tuple[str, str]] = (),
    ) -> Role:
        """CreateRole."""
        if not _ROLE_NAME.fullmatch(name):
            raise InvalidInput("RoleName")
        self._validate(trust)
        _check_duration("MaxSessionDuration", max_session)
        tag_store.validate(tags, "Tag")
        now = int(self._clock())
        role = Role(account, name, new_numeric_id(19), description, trust, max_session, now, now)
        try:
            with self._db.begin() as conn:
                # Counted and checked inside the write: SQLite serializes writers, and on PostgreSQL
                # the unique index is the backstop for two creations of one name racing.
                if conn.execute(select(t.ram_roles.c.name).where(*_named(account, name))).first():
                    raise EntityAlreadyExists("Role", name)
                count = conn.execute(
                    select(func.count())
                    .select_from(t.ram_roles)
                    .where(t.ram_roles.c.account_id == account)
                ).scalar_one()
                if count >= self._max_roles:
                    raise RamLimitExceeded("Role")
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
                tag_store.put(conn, account, TAG_TYPE, role.role_id, tags)
        except IntegrityError as exc:  # the same name created at the same moment
            raise EntityAlreadyExists("Role", name) from exc
        return role

    def get(self, account: str, name: str) -> Role:
        """GetRole (role names are matched without regard to case)."""
        with self._db.read() as conn:
            row = conn.execute(select(t.ram_roles).where(*_named(account, name))).first()
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

    def all(self, account: str) -> list[Role]:
        """Every role of the account, by name (for listings filtered by tag)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_roles)
                .where(t.ram_roles.c.account_id == account)
                .order_by(t.ram_roles.c.name)
            ).all()
        return [_role(r) for r in rows]

    def tags(self, roles: Sequence[Role]) -> dict[str, dict[str, str]]:
        """Tags of each role, by role id."""
        return tag_store.of(self._db, TAG_TYPE, [r.role_id for r in roles])

    def update(
        self,
        account: str,
        name: str,
        trust: str | None = None,
        description: str | None = None,
        max_session: int | None = None,
    ) -> Role:
        """UpdateRole; None keeps a field."""
        values: dict[str, Any] = {"updated_at": int(self._clock())}
        if trust is not None:
            self._validate(trust)
            values["assume_role_policy"] = trust
        if description is not None:
            values["description"] = description
        if max_session is not None:
            _check_duration("NewMaxSessionDuration", max_session)
            values["max_session_duration"] = max_session
        with self._db.begin() as conn:
            role = lock_role(conn, account, name)
            conn.execute(
                update(t.ram_roles)
                .where(t.ram_roles.c.account_id == account, t.ram_roles.c.name == role.name)
                .values(**values)
            )
        self._changed()
        return self.get(account, role.name)

    def delete(self, account: str, name: str) -> None:
        """DeleteRole: refused while policies are attached."""
        with self._db.begin() as conn:
            # Locked first, so an attachment racing in either commits before this check or
            # finds the role gone.
            role = lock_role(conn, account, name)
            if has_policies(conn, account, "Role", role.name):
                raise DeleteConflict("Role.Policy", role.name)
            conn.execute(
                delete(t.ram_roles).where(
                    t.ram_roles.c.account_id == account, t.ram_roles.c.name == role.name
                )
            )
            tag_store.drop_resource(conn, TAG_TYPE, role.role_id)
        self._changed()
