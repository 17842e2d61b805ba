"""RAM users and groups, and who belongs to which group."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.errors import InvalidInput
from mamori.iam.errors import DeleteConflict, EntityAlreadyExists, EntityNotExist
from mamori.store import schema as t
from mamori.store.database import Database

_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def new_numeric_id(digits: int = 16) -> str:
    """An Alibaba-style numeric id (users, groups, roles)."""
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def check_name(param: str, name: str) -> None:
    """RAM names: 1–64 letters, digits, ``.``, ``_``, ``-``, ``@``."""
    if not _NAME.match(name):
        raise InvalidInput(param)


@dataclass(frozen=True, slots=True)
class User:
    """A RAM user."""

    name: str
    user_id: str
    display_name: str
    email: str
    mobile_phone: str
    comments: str
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Group:
    """A RAM group."""

    name: str
    group_id: str
    comments: str
    created_at: int
    updated_at: int


def _user(row: Any) -> User:
    return User(
        row.name,
        row.user_id,
        row.display_name,
        row.email,
        row.mobile_phone,
        row.comments,
        row.created_at,
        row.updated_at,
    )


def _group(row: Any) -> Group:
    return Group(row.name, row.group_id, row.comments, row.created_at, row.updated_at)


class Directory:
    """Users, groups and memberships of every account; ``on_change`` runs after each commit so
    authorization caches follow at once."""

    def __init__(
        self, db: Database, clock: Callable[[], float], on_change: Callable[[], None]
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = on_change

    def _now(self) -> int:
        return int(self._clock())

    # -- users -------------------------------------------------------------------------------

    def create_user(self, account: str, name: str, **fields: str) -> User:
        """CreateUser."""
        check_name("UserName", name)
        now = self._now()
        user = User(
            name=name,
            user_id=new_numeric_id(),
            display_name=fields.get("display_name") or name,
            email=fields.get("email") or "",
            mobile_phone=fields.get("mobile_phone") or "",
            comments=fields.get("comments") or "",
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.begin() as conn:
                conn.execute(insert(t.ram_users).values(account_id=account, **asdict(user)))
        except IntegrityError as exc:
            raise EntityAlreadyExists("User", name) from exc
        return user

    def get_user(self, account: str, name: str) -> User:
        """GetUser."""
        with self._db.read() as conn:
            row = conn.execute(
                select(t.ram_users).where(
                    t.ram_users.c.account_id == account, t.ram_users.c.name == name
                )
            ).first()
        if row is None:
            raise EntityNotExist("User", name)
        return _user(row)

    def update_user(self, account: str, name: str, **changes: str | None) -> User:
        """UpdateUser; ``new_name`` renames, carrying keys, memberships and attachments."""
        current = self.get_user(account, name)
        values: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        new_name = values.pop("new_name", None)
        if new_name and new_name != name:
            check_name("NewUserName", new_name)
            values["name"] = new_name
        values["updated_at"] = self._now()
        try:
            with self._db.begin() as conn:
                conn.execute(
                    update(t.ram_users)
                    .where(t.ram_users.c.account_id == account, t.ram_users.c.name == name)
                    .values(**values)
                )
                if "name" in values:
                    self._rename_user(conn, account, name, values["name"])
        except IntegrityError as exc:
            raise EntityAlreadyExists("User", str(new_name)) from exc
        self._changed()
        return self.get_user(account, values.get("name", current.name))

    @staticmethod
    def _rename_user(conn: Any, account: str, old: str, new: str) -> None:
        conn.execute(
            update(t.access_keys)
            .where(t.access_keys.c.account_id == account, t.access_keys.c.principal == old)
            .values(principal=new)
        )
        conn.execute(
            update(t.ram_group_members)
            .where(
                t.ram_group_members.c.account_id == account,
                t.ram_group_members.c.user_name == old,
            )
            .values(user_name=new)
        )
        conn.execute(
            update(t.ram_attachments)
            .where(
                t.ram_attachments.c.account_id == account,
                t.ram_attachments.c.principal_type == "User",
                t.ram_attachments.c.principal_name == old,
            )
            .values(principal_name=new)
        )

    def delete_user(self, account: str, name: str) -> None:
        """DeleteUser: refused while the user has AccessKeys, groups or policies."""
        self.get_user(account, name)
        with self._db.begin() as conn:
            if conn.execute(
                select(t.access_keys.c.id).where(
                    t.access_keys.c.account_id == account, t.access_keys.c.principal == name
                )
            ).first():
                raise DeleteConflict("User.AccessKey", name)
            if conn.execute(
                select(t.ram_group_members.c.group_name).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.user_name == name,
                )
            ).first():
                raise DeleteConflict("User.Group", name)
            if conn.execute(
                select(t.ram_attachments.c.policy_name).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.principal_type == "User",
                    t.ram_attachments.c.principal_name == name,
                )
            ).first():
                raise DeleteConflict("User.Policy", name)
            conn.execute(
                delete(t.ram_users).where(
                    t.ram_users.c.account_id == account, t.ram_users.c.name == name
                )
            )
        self._changed()

    def list_users(self, account: str, after: str, limit: int) -> tuple[list[User], bool]:
        """ListUsers by name after the marker; (page, more follow)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_users)
                .where(t.ram_users.c.account_id == account, t.ram_users.c.name > after)
                .order_by(t.ram_users.c.name)
                .limit(limit + 1)
            ).all()
        return [_user(r) for r in rows[:limit]], len(rows) > limit

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, account: str, name: str, comments: str = "") -> Group:
        """CreateGroup."""
        check_name("GroupName", name)
        now = self._now()
        group = Group(name, new_numeric_id(), comments, now, now)
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.ram_groups).values(
                        account_id=account,
                        name=name,
                        group_id=group.group_id,
                        comments=comments,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise EntityAlreadyExists("Group", name) from exc
        return group

    def get_group(self, account: str, name: str) -> Group:
        """GetGroup."""
        with self._db.read() as conn:
            row = conn.execute(
                select(t.ram_groups).where(
                    t.ram_groups.c.account_id == account, t.ram_groups.c.name == name
                )
            ).first()
        if row is None:
            raise EntityNotExist("Group", name)
        return _group(row)

    def delete_group(self, account: str, name: str) -> None:
        """DeleteGroup: refused while it has members or policies."""
        self.get_group(account, name)
        with self._db.begin() as conn:
            if conn.execute(
                select(t.ram_group_members.c.user_name).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.group_name == name,
                )
            ).first():
                raise DeleteConflict("Group.User", name)
            if conn.execute(
                select(t.ram_attachments.c.policy_name).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.principal_type == "Group",
                    t.ram_attachments.c.principal_name == name,
                )
            ).first():
                raise DeleteConflict("Group.Policy", name)
            conn.execute(
                delete(t.ram_groups).where(
                    t.ram_groups.c.account_id == account, t.ram_groups.c.name == name
                )
            )
        self._changed()

    def add_user_to_group(self, account: str, user: str, group: str) -> None:
        """AddUserToGroup."""
        self.get_user(account, user)
        self.get_group(account, group)
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.ram_group_members).values(
                        account_id=account, group_name=group, user_name=user, joined_at=self._now()
                    )
                )
        except IntegrityError as exc:
            raise EntityAlreadyExists("User.Group", user) from exc
        self._changed()

    def remove_user_from_group(self, account: str, user: str, group: str) -> None:
        """RemoveUserFromGroup."""
        self.get_user(account, user)
        self.get_group(account, group)
        with self._db.begin() as conn:
            removed = conn.execute(
                delete(t.ram_group_members).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.group_name == group,
                    t.ram_group_members.c.user_name == user,
                )
            ).rowcount
        if not removed:
            raise EntityNotExist("User.Group", user)
        self._changed()

    def groups_of(self, account: str, user: str) -> list[tuple[Group, int]]:
        """ListGroupsForUser: each group with the time the user joined it."""
        self.get_user(account, user)
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_groups, t.ram_group_members.c.joined_at)
                .join(
                    t.ram_group_members,
                    and_(
                        t.ram_group_members.c.account_id == t.ram_groups.c.account_id,
                        t.ram_group_members.c.group_name == t.ram_groups.c.name,
                    ),
                )
                .where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.user_name == user,
                )
                .order_by(t.ram_groups.c.name)
            ).all()
        return [(_group(r), r.joined_at) for r in rows]

    def count_users(self, account: str) -> int:
        """How many users the account has."""
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.ram_users)
                    .where(t.ram_users.c.account_id == account)
                ).scalar_one()
            )
