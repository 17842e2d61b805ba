"""Aliases: ``alias/<name>`` → key, unique per account."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.core.errors import AliasExists, AliasNotFound, InvalidInput, StateConflict
from mamori.core.keys import KeyService
from mamori.core.model import Alias, KeyState
from mamori.core.refs import Scope
from mamori.store import schema as t
from mamori.store.database import Database

# Matched whole with fullmatch: "$" would also match before a trailing newline, and
# "alias/prod\n" would then be an alias beside "alias/prod" that KeyId lookups (stripped) confuse.
_NAME = re.compile(r"alias/[A-Za-z0-9:/_-]{1,249}")


def check_name(name: str) -> None:
    """1–255 characters, ``alias/`` prefix, not ``alias/acs``, letters, digits, ``:/_-``."""
    if not _NAME.fullmatch(name) or name.startswith("alias/acs"):
        raise InvalidInput("AliasName")


class AliasService:
    """CreateAlias, UpdateAlias, DeleteAlias and the alias listings."""

    def __init__(self, db: Database, keys: KeyService) -> None:
        self._db = db
        self._keys = keys

    def create(self, scope: Scope, name: str, key: str) -> None:
        """CreateAlias."""
        check_name(name)
        record = self._keys.resolve(scope, key)
        if record.state == KeyState.PENDING_DELETION:
            raise StateConflict(
                "Rejected.StateModifiedFailed", state=record.state, reason="key pending deletion"
            )
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.aliases).values(
                        account_id=scope.account_id,
                        name=name,
                        key_id=record.id,
                        created_at=self._keys.now(),
                    )
                )
        except IntegrityError as exc:
            raise AliasExists from exc
        self._keys.invalidate_alias(scope.account_id, name)

    def update(self, scope: Scope, name: str, key: str) -> None:
        """UpdateAlias: point an existing alias at another key."""
        check_name(name)
        record = self._keys.resolve(scope, key)
        if record.state == KeyState.PENDING_DELETION:
            raise StateConflict(
                "Rejected.StateModifiedFailed", state=record.state, reason="key pending deletion"
            )
        with self._db.begin() as conn:
            changed = conn.execute(
                update(t.aliases)
                .where(t.aliases.c.account_id == scope.account_id, t.aliases.c.name == name)
                .values(key_id=record.id)
            ).rowcount
        if not changed:
            raise AliasNotFound
        self._keys.invalidate_alias(scope.account_id, name)

    def delete(self, scope: Scope, name: str) -> None:
        """DeleteAlias."""
        with self._db.begin() as conn:
            removed = conn.execute(
                delete(t.aliases).where(
                    t.aliases.c.account_id == scope.account_id, t.aliases.c.name == name
                )
            ).rowcount
        if not removed:
            raise AliasNotFound
        self._keys.invalidate_alias(scope.account_id, name)

    def listing(
        self, scope: Scope, key_id: str | None, offset: int, limit: int
    ) -> tuple[list[Alias], int]:
        """ListAliases (or ListAliasesByKeyId when ``key_id`` is set), by name."""
        where = [t.aliases.c.account_id == scope.account_id]
        if key_id is not None:
            where.append(t.aliases.c.key_id == key_id)
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(t.aliases).where(*where)
            ).scalar_one()
            rows = conn.execute(
                select(t.aliases.c.name, t.aliases.c.key_id)
                .where(*where)
                .order_by(t.aliases.c.name)
                .offset(offset)
                .limit(limit)
            ).all()
        return [Alias(r.name, r.key_id) for r in rows], total

    def names_by_key(self, account_id: str) -> dict[str, list[str]]:
        """key id → its alias names, for ListKeys' AliasName filter."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.aliases.c.name, t.aliases.c.key_id).where(
                    t.aliases.c.account_id == account_id
                )
            ).all()
        result: dict[str, list[str]] = {}
        for row in rows:
            result.setdefault(row.key_id, []).append(row.name)
        return result
