"""Rows of the secret tables: the records, the stage moves and the purge, all inside the
caller's transaction. The stage table's primary key keeps a stage on one version at most."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mamori.core import tags as tag_store
from mamori.core.errors import DomainError, InvalidInput
from mamori.store import schema as t

CURRENT = "ACSCurrent"
PREVIOUS = "ACSPrevious"
MAX_DATA = 30 * 1024


class SecretNotFound(DomainError):
    """No such secret (or version) in this account."""

    code = "Forbidden.ResourceNotFound"


class SecretExists(DomainError):
    """The secret name (or a version id with other data) is taken."""

    code = "Rejected.ResourceExist"


class SecretInDeleteWindow(DomainError):
    """The secret is scheduled for deletion."""

    code = "Rejected.ResourceInDeleteWindow"


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret's metadata as stored."""

    account_id: str
    name: str
    secret_type: str
    description: str
    encryption_key_id: str
    secret_data_type: str
    extended_config: str | None
    creator: str
    created_at: int
    updated_at: int
    planned_delete_at: int | None
    rotation_enabled: bool = False
    rotation_interval: int | None = None
    last_rotation_at: int | None = None
    next_rotation_at: int | None = None
    retire_at: int | None = None
    dkms_instance_id: str = ""

    @classmethod
    def from_row(cls, row: Any) -> Secret:
        """Build from a ``secrets`` row."""
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        values["rotation_enabled"] = bool(values["rotation_enabled"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SecretValue:
    """One opened version."""

    version_id: str
    data: bytes
    data_type: str
    stages: list[str]
    created_at: int


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version's id, stages and creation time."""

    version_id: str
    stages: list[str]
    created_at: int


def tag_id(account_id: str, name: str) -> str:
    """The tag store's resource id of a secret (the tag table is not keyed by account)."""
    return f"{account_id}/{name}"


def context(name: str, version_id: str) -> dict[str, str]:
    return {"SecretName": name, "VersionId": version_id}


def check_data(data: bytes) -> None:
    """SecretData is at most 30 KB."""
    if len(data) > MAX_DATA:
        raise InvalidInput("SecretData", f"It is larger than {MAX_DATA} bytes.")


def row(conn: Connection, account_id: str, name: str, lock: bool = False) -> Secret:
    query = select(t.secrets).where(t.secrets.c.account_id == account_id, t.secrets.c.name == name)
    if lock:
        # PostgreSQL: concurrent stage changes of one secret queue here (SQLite's BEGIN
        # IMMEDIATE already serializes writers).
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise SecretNotFound
    return Secret.from_row(row)


def stages_of(conn: Connection, account_id: str, name: str) -> dict[str, list[str]]:
    rows = conn.execute(
        select(t.secret_version_stages.c.version_id, t.secret_version_stages.c.stage)
        .where(
            t.secret_version_stages.c.account_id == account_id,
            t.secret_version_stages.c.secret_name == name,
        )
        .order_by(t.secret_version_stages.c.stage)
    ).all()
    result: dict[str, list[str]] = {}
    for row in rows:
        result.setdefault(row.version_id, []).append(row.stage)
    return result


def insert_version(conn: Connection, secret: Secret, version_id: str, blob: str, now: int) -> None:
    conn.execute(
        insert(t.secret_versions).values(
            account_id=secret.account_id,
            secret_name=secret.name,
            version_id=version_id,
            secret_data_type=secret.secret_data_type,
            wrapped_value=blob,
            created_at=now,
        )
    )


def has_version(conn: Connection, account_id: str, name: str, version_id: str) -> bool:
    """Whether the secret has a version with this id."""
    found = conn.execute(
        select(t.secret_versions.c.version_id).where(
            t.secret_versions.c.account_id == account_id,
            t.secret_versions.c.secret_name == name,
            t.secret_versions.c.version_id == version_id,
        )
    ).first()
    return found is not None


def claim_due(conn: Connection, secret: Secret, **values: Any) -> bool:
    """Claim a due automatic rotation read as ``secret``: set ``values`` only if the rotation is
    still on, the secret live and its next date unchanged (compare-and-set), so of two nodes
    that read the same due date only one goes on."""
    claimed = conn.execute(
        update(t.secrets)
        .where(
            t.secrets.c.account_id == secret.account_id,
            t.secrets.c.name == secret.name,
            t.secrets.c.rotation_enabled.is_(True),
            t.secrets.c.planned_delete_at.is_(None),
            t.secrets.c.next_rotation_at == secret.next_rotation_at,
        )
        .values(**values)
    ).rowcount
    return bool(claimed == 1)


def holder(conn: Connection, account_id: str, name: str, stage: str) -> str | None:
    found = conn.execute(
        select(t.secret_version_stages.c.version_id).where(
            t.secret_version_stages.c.account_id == account_id,
            t.secret_version_stages.c.secret_name == name,
            t.secret_version_stages.c.stage == stage,
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)


def drop_stage(conn: Connection, account_id: str, name: str, stage: str) -> None:
    conn.execute(
        delete(t.secret_version_stages).where(
            t.secret_version_stages.c.account_id == account_id,
            t.secret_version_stages.c.secret_name == name,
            t.secret_version_stages.c.stage == stage,
        )
    )


def set_stage(conn: Connection, account_id: str, name: str, stage: str, version_id: str) -> None:
    """Point ``stage`` at ``version_id``; moving ACSCurrent makes the old holder ACSPrevious."""
    current = holder(conn, account_id, name, stage)
    if current == version_id:
        return
    if stage == CURRENT and current is not None:
        set_stage(conn, account_id, name, PREVIOUS, current)
    drop_stage(conn, account_id, name, stage)
    conn.execute(
        insert(t.secret_version_stages).values(
            account_id=account_id, secret_name=name, stage=stage, version_id=version_id
        )
    )


def purge(conn: Connection, account_id: str, name: str) -> None:
    """Remove a secret, its versions, stages, policies and tags (children first: SQLite checks
    FKs)."""
    for table in (t.secret_version_stages, t.secret_versions, t.secret_policies):
        conn.execute(
            delete(table).where(table.c.account_id == account_id, table.c.secret_name == name)
        )
    conn.execute(
        delete(t.secrets).where(t.secrets.c.account_id == account_id, t.secrets.c.name == name)
    )
    tag_store.drop_resource(conn, "secret", tag_id(account_id, name))
