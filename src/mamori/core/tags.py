"""Tags on resources (keys now, secrets later): validation, and the rows in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, func, insert, select

from mamori.core.errors import InvalidInput, LimitExceeded
from mamori.store import schema as t
from mamori.store.database import Database

MAX_TAGS = 20
MAX_LEN = 128
_RESERVED = ("aliyun", "acs:")


def validate(pairs: Sequence[tuple[str, str]], param: str = "Tags") -> None:
    """Keys 1–128 chars, not starting with ``aliyun`` or ``acs:``; values at most 128 chars."""
    if len(pairs) > MAX_TAGS:
        raise InvalidInput(param, f"At most {MAX_TAGS} tags are allowed.")
    for key, value in pairs:
        if not key or len(key) > MAX_LEN or key.lower().startswith(_RESERVED):
            raise InvalidInput(param, "A tag key is empty, too long or reserved.")
        if len(value) > MAX_LEN:
            raise InvalidInput(param, "A tag value is too long.")


def put(
    conn: Connection,
    account_id: str,
    resource_type: str,
    resource_id: str,
    pairs: Sequence[tuple[str, str]],
) -> None:
    """Add or overwrite tags inside the caller's transaction."""
    if not pairs:
        return
    validate(pairs)
    wanted = dict(pairs)
    conn.execute(
        delete(t.tags).where(
            t.tags.c.resource_type == resource_type,
            t.tags.c.resource_id == resource_id,
            t.tags.c.tag_key.in_(list(wanted)),
        )
    )
    conn.execute(
        insert(t.tags),
        [
            {
                "account_id": account_id,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "tag_key": k,
                "tag_value": v,
            }
            for k, v in wanted.items()
        ],
    )
    count = conn.execute(
        select(func.count())
        .select_from(t.tags)
        .where(t.tags.c.resource_type == resource_type, t.tags.c.resource_id == resource_id)
    ).scalar_one()
    if count > MAX_TAGS:
        raise LimitExceeded(what=f"tags on one resource ({MAX_TAGS})")


def remove(
    conn: Connection, resource_type: str, resource_id: str, keys: Iterable[str] | None
) -> None:
    """Remove the named tag keys, or all tags when ``keys`` is None."""
    where = [t.tags.c.resource_type == resource_type, t.tags.c.resource_id == resource_id]
    if keys is not None:
        where.append(t.tags.c.tag_key.in_(list(keys)))
    conn.execute(delete(t.tags).where(*where))


def drop_resource(conn: Connection, resource_type: str, resource_id: str) -> None:
    """Remove every tag of a deleted resource."""
    remove(conn, resource_type, resource_id, None)


def of(db: Database, resource_type: str, resource_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Tags of several resources: id → {key: value}."""
    result: dict[str, dict[str, str]] = {rid: {} for rid in resource_ids}
    if not resource_ids:
        return result
    with db.read() as conn:
        rows = conn.execute(
            select(t.tags.c.resource_id, t.tags.c.tag_key, t.tags.c.tag_value)
            .where(t.tags.c.resource_type == resource_type, t.tags.c.resource_id.in_(resource_ids))
            .order_by(t.tags.c.resource_id, t.tags.c.tag_key)
        ).all()
    for row in rows:
        result[row.resource_id][row.tag_key] = row.tag_value
    return result


def of_account(db: Database, account_id: str, resource_type: str) -> dict[str, dict[str, str]]:
    """Tags of every resource of one type in an account."""
    result: dict[str, dict[str, str]] = {}
    with db.read() as conn:
        rows = conn.execute(
            select(t.tags.c.resource_id, t.tags.c.tag_key, t.tags.c.tag_value)
            .where(t.tags.c.account_id == account_id, t.tags.c.resource_type == resource_type)
            .order_by(t.tags.c.resource_id, t.tags.c.tag_key)
        ).all()
    for row in rows:
        result.setdefault(row.resource_id, {})[row.tag_key] = row.tag_value
    return result


def tag_resources(
    db: Database,
    account_id: str,
    resource_type: str,
    resource_ids: Sequence[str],
    pairs: Sequence[tuple[str, str]],
) -> None:
    """Add tags to several resources in one transaction."""
    validate(pairs)
    with db.begin() as conn:
        for rid in resource_ids:
            put(conn, account_id, resource_type, rid, pairs)


def untag_resources(
    db: Database, resource_type: str, resource_ids: Sequence[str], keys: Sequence[str] | None
) -> None:
    """Remove the named tags (all tags when ``keys`` is None) from several resources at once."""
    with db.begin() as conn:
        for rid in resource_ids:
            remove(conn, resource_type, rid, keys)
