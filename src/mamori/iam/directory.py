"""RAM users and groups, and who belongs to which group.

Every write checks what it depends on inside its own transaction, with the entity's row locked
(``FOR UPDATE`` on PostgreSQL; SQLite writers are serialized by ``BEGIN IMMEDIATE``), so a
concurrent delete or rename cannot leave a membership or an AccessKey pointing at nobody.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.iam.errors import DeleteConflict, EntityAlreadyExists, EntityNotExist
from mamori.iam.groups import Group, GroupStore, exists, lock_group
from mamori.iam.groups import group_from_row as _group
from mamori.iam.holders import has_policies, rename_holder
from mamori.iam.names import check_user_name
from mamori.iam.names import new_numeric_id as new_numeric_id
from mamori.store import schema as t


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
class Member:
    """A user as a member of a group."""

    name: str
    display_name: str
    joined_at: int


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


def lock_user(conn: Connection, account: str, name: str) -> Any:
    """The user's row, locked for this transaction; EntityNotExist.User when there is none."""
    row = conn.execute(
        select(t.ram_users)
        .where(t.ram_users.c.account_id == account, t.ram_users.c.name == name)
        .with_for_update()
    ).first()
    if row is None:
        raise EntityNotExist("User", name)
    return row


class Directory(GroupStore):
    """Users, groups and memberships; ``on_change`` runs after commits that change who is who."""

    # -- users -------------------------------------------------------------------------------

    def create_user(self, account: str, name: str, **fields: str | None) -> User:
        """CreateUser; ``fields``: display_name, email, mobile_phone, comments."""
        check_user_name("UserName", name)
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
        """UpdateUser (None keeps a field); a rename carries keys, groups and policies along."""
        values: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        new_name = values.pop("new_name", None)
        if new_name is not None and new_name != name:
            check_user_name("NewUserName", new_name)
            values["name"] = new_name
        values["updated_at"] = self._now()
        try:
            with self._db.begin() as conn:
                lock_user(conn, account, name)
                conn.execute(
                    update(t.ram_users)
                    .where(t.ram_users.c.account_id == account, t.ram_users.c.name == name)
                    .values(**values)
                )
                if "name" in values:
                    self._rename_user(conn, account, name, values["name"])
                row = lock_user(conn, account, values.get("name", name))
        except IntegrityError as exc:
            raise EntityAlreadyExists("User", str(new_name)) from exc
        if "name" in values:
            self._changed()
        return _user(row)

    @staticmethod
    def _rename_user(conn: Connection, account: str, old: str, new: str) -> None:
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
        rename_holder(conn, account, "User", old, new)

    def delete_user(self, account: str, name: str) -> None:
        """DeleteUser: refused while the user has AccessKeys, groups or policies."""
        with self._db.begin() as conn:
            lock_user(conn, account, name)
            if exists(
                conn,
                select(t.access_keys.c.id).where(
                    t.access_keys.c.account_id == account, t.access_keys.c.principal == name
                ),
            ):
                raise DeleteConflict("User.AccessKey", name)
            if exists(
                conn,
                select(t.ram_group_members.c.group_name).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.user_name == name,
                ),
            ):
                raise DeleteConflict("User.Group", name)
            if has_policies(conn, account, "User", name):
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

    # -- memberships -------------------------------------------------------------------------

    def add_user_to_group(self, account: str, user: str, group: str) -> None:
        """AddUserToGroup."""
        try:
            with self._db.begin() as conn:
                lock_user(conn, account, user)
                lock_group(conn, account, group)
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
        with self._db.begin() as conn:
            lock_user(conn, account, user)
            lock_group(conn, account, group)
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
        with self._db.read() as conn:
            if (
                conn.execute(
                    select(t.ram_users.c.name).where(
                        t.ram_users.c.account_id == account, t.ram_users.c.name == user
                    )
                ).first()
                is None
            ):
                raise EntityNotExist("User", user)
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

    def members_of(
        self, account: str, group: str, after: str, limit: int
    ) -> tuple[list[Member], bool]:
        """ListUsersForGroup by user name after the marker; (page, more follow)."""
        with self._db.read() as conn:
            if (
                conn.execute(
                    select(t.ram_groups.c.name).where(
                        t.ram_groups.c.account_id == account, t.ram_groups.c.name == group
                    )
                ).first()
                is None
            ):
                raise EntityNotExist("Group", group)
            rows = conn.execute(
                select(
                    t.ram_users.c.name, t.ram_users.c.display_name, t.ram_group_members.c.joined_at
                )
                .join(
                    t.ram_group_members,
                    and_(
                        t.ram_group_members.c.account_id == t.ram_users.c.account_id,
                        t.ram_group_members.c.user_name == t.ram_users.c.name,
                    ),
                )
                .where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.group_name == group,
                    t.ram_users.c.name > after,
                )
                .order_by(t.ram_users.c.name)
                .limit(limit + 1)
            ).all()
        members = [Member(r.name, r.display_name, r.joined_at) for r in rows[:limit]]
        return members, len(rows) > limit
