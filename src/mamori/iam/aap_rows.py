"""What the stores of AAPs, their policies and network rules do alike with their rows: find one
by account and name, claim a new name under the account's bound, and refuse to delete a row
that another still names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Table, func, select

from mamori.core.errors import InvalidInput
from mamori.iam.aap_names import MAX_PER_ACCOUNT, AapLimitExceeded, AapNameTaken


def named(table: Table, account: str, name: str) -> Any:
    """The row of ``table`` (keyed by ``account_id`` and ``name``) called ``name``."""
    return (table.c.account_id == account) & (table.c.name == name)


def claim_name(conn: Connection, table: Table, account: str, name: str, what: str) -> None:
    """Refuse a name the account already uses in ``table`` (``AapNameTaken``), or a new row past
    the account's bound (``AapLimitExceeded``, naming ``what``)."""
    if conn.execute(select(table.c.name).where(named(table, account, name))).first():
        raise AapNameTaken
    count = conn.execute(
        select(func.count()).select_from(table).where(table.c.account_id == account)
    ).scalar_one()
    if count >= MAX_PER_ACCOUNT:
        raise AapLimitExceeded(what)


def refuse_if_named(
    conn: Connection, link: Column[str], named_by: Column[str], account: str, name: str, why: str
) -> None:
    """``InvalidParameter`` when rows of ``link``'s table still name ``name`` (in ``link``):
    ``why`` with up to three of their names (``named_by``) after it."""
    table = link.table
    users = (
        conn.execute(
            select(named_by)
            .where(table.c.account_id == account, link == name)
            .order_by(named_by)
            .limit(3)
        )
        .scalars()
        .all()
    )
    if users:
        raise InvalidInput("Name", why.format(", ".join(users)))
