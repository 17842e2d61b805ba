"""The policies attached to one holder (a user, group or role), as seen from the holder's side:
whether any remain, and carrying them along when the holder is renamed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from mamori.store import schema as t


def _holder(account: str, kind: str, name: str) -> tuple[Any, ...]:
    return (
        t.ram_attachments.c.account_id == account,
        t.ram_attachments.c.principal_type == kind,
        t.ram_attachments.c.principal_name == name,
    )


def has_policies(conn: Connection, account: str, kind: str, name: str) -> bool:
    """Whether any policy is still attached to the holder."""
    query = select(t.ram_attachments.c.policy_name).where(*_holder(account, kind, name))
    return conn.execute(query.limit(1)).first() is not None


def rename_holder(conn: Connection, account: str, kind: str, old: str, new: str) -> None:
    """Move the holder's attachments to its new name, inside the caller's transaction."""
    conn.execute(
        update(t.ram_attachments).where(*_holder(account, kind, old)).values(principal_name=new)
    )
