"""RAM groups: create, read, rename, delete and list them (memberships live in the directory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.iam.errors import DeleteConflict, EntityAlreadyExists, EntityNotExist
from mamori.iam.holders import has_policies, rename_holder
from mamori.iam.names import check_identity_name, new_numeric_id
from mamori.store import schema as t
from mamori.store.database import Database


@dataclass(frozen=True, slots=True)
class Group:
    """A RAM group."""

    name: str
    group_id: str
    comments: str
    created_at: int
    updated_at: int


def group_from_row(row: Any) -> Group:
    """A Group from its store row."""
    return Group(row.name, row.group_id, row.comments, row.created_at, row.updated_at)


def lock_group(conn: Connection, account: str, name: str) -> Any:
    """The group's row, locked for this transaction; EntityNotExist.Group when absent."""
    row = conn.execute(
        select(t.ram_groups)
        .where(t.ram_groups.c.account_id == account, t.ram_groups.c.name == name)
        .with_for_update()
    ).first()
    if row is None:
        raise EntityNotExist("Group", name)
    return row


def exists(conn: Connection, query: Any) -> bool:
    """Whether the query finds a row."""
    return conn.execute(query.limit(1)).first() is not None


class GroupStore:
    """Groups of every account; ``on_change`` runs after each commit that renames or deletes."""

    def __init__(
        self, db: Database, clock: Callable[[], float], on_change: Callable[[], None]
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = on_change

    def _now(self) -> int:
        return int(self._clock())

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, account: str, name: str, comments: str = "") -> Group:
        """CreateGroup."""
        check_identity_name("GroupName", name)
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
        return group_from_row(row)

    def update_group(
        self, account: str, name: str, new_name: str | None, comments: str | None
    ) -> Group:
        """UpdateGroup; a rename carries the group's members and attachments along."""
        values: dict[str, Any] = {"updated_at": self._now()}
        if comments is not None:
            values["comments"] = comments
        if new_name is not None and new_name != name:
            check_identity_name("NewGroupName", new_name)
            values["name"] = new_name
        try:
            with self._db.begin() as conn:
                lock_group(conn, account, name)
                conn.execute(
                    update(t.ram_groups)
                    .where(t.ram_groups.c.account_id == account, t.ram_groups.c.name == name)
                    .values(**values)
                )
                if "name" in values:
                    self._rename_group(conn, account, name, values["name"])
                row = lock_group(conn, account, values.get("name", name))
        except IntegrityError as exc:
            raise EntityAlreadyExists("Group", str(new_name)) from exc
        if "name" in values:
            self._changed()
        return group_from_row(row)

    @staticmethod
    def _rename_group(conn: Connection, account: str, old: str, new: str) -> None:
        conn.execute(
            update(t.ram_group_members)
            .where(
                t.ram_group_members.c.account_id == account,
                t.ram_group_members.c.group_name == old,
            )
            .values(group_name=new)
        )
        rename_holder(conn, account, "Group", old, new)

    def delete_group(self, account: str, name: str) -> None:
        """DeleteGroup: refused while it has members or policies."""
        with self._db.begin() as conn:
            lock_group(conn, account, name)
            if exists(
                conn,
                select(t.ram_group_members.c.user_name).where(
                    t.ram_group_members.c.account_id == account,
                    t.ram_group_members.c.group_name == name,
                ),
            ):
                raise DeleteConflict("Group.User", name)
            if has_policies(conn, account, "Group", name):
                raise DeleteConflict("Group.Policy", name)
            conn.execute(
                delete(t.ram_groups).where(
                    t.ram_groups.c.account_id == account, t.ram_groups.c.name == name
                )
            )
        self._changed()

    def list_groups(self, account: str, after: str, limit: int) -> tuple[list[Group], bool]:
        """ListGroups by name after the marker; (page, more follow)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.ram_groups)
                .where(t.ram_groups.c.account_id == account, t.ram_groups.c.name > after)
                .order_by(t.ram_groups.c.name)
                .limit(limit + 1)
            ).all()
        return [group_from_row(r) for r in rows[:limit]], len(rows) > limit
