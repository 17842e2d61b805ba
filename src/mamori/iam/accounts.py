"""Accounts and their KMS service status."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, select, update

from mamori.core.errors import AlreadyOpened
from mamori.store import schema as t
from mamori.store.database import Database

ENABLED = "Enabled"


class AccountService:
    """Creates the configured account on first start; reports and opens the KMS service."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def ensure(self, account_id: str) -> bool:
        """Create the account if absent; True when it was created now."""
        with self._db.begin() as conn:
            exists = conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account_id))
            if exists.first() is not None:
                return False
            conn.execute(
                insert(t.accounts).values(
                    id=account_id, kms_status=ENABLED, created_at=int(self._clock())
                )
            )
        return True

    def status(self, account_id: str) -> str:
        """DescribeAccountKmsStatus."""
        with self._db.read() as conn:
            value = conn.execute(
                select(t.accounts.c.kms_status).where(t.accounts.c.id == account_id)
            ).scalar_one_or_none()
        return value or "NotEnabled"

    def open_service(self, account_id: str) -> None:
        """OpenKmsService: only an account whose service is off can open it."""
        if self.status(account_id) == ENABLED:
            raise AlreadyOpened
        with self._db.begin() as conn:
            conn.execute(
                update(t.accounts).where(t.accounts.c.id == account_id).values(kms_status=ENABLED)
            )
