"""AccessKeys: their ids and secrets (wrapped at rest), their owners, and the first admin key."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from mamori.core.cache import LruCache
from mamori.core.errors import InvalidInput
from mamori.core.invalidation import Invalidations
from mamori.iam.directory import lock_user
from mamori.iam.errors import EntityNotExist, RamLimitExceeded
from mamori.iam.principal import ADMIN, Principal
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

# What an AccessKey id may hold (issued ones are LTAI and 20 letters or digits); 64 at most.
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_ALNUM = string.ascii_letters + string.digits
ACTIVE = "Active"
INACTIVE = "Inactive"
MAX_PER_USER = 2


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    """An AccessKey as listed: never its secret."""

    access_key_id: str
    status: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AccessKeyEntry:
    """What the gateway needs to check a signature: the secret, its owner, its status."""

    secret: str
    principal: Principal
    status: str

    def __repr__(self) -> str:
        return f"AccessKeyEntry(principal={self.principal!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    """A freshly created AccessKey, the one time its secret is known in clear."""

    access_key_id: str
    secret: str
    status: str
    created_at: int

    def __repr__(self) -> str:
        return f"NewAccessKey(access_key_id={self.access_key_id!r}, status={self.status!r})"


def new_pair() -> tuple[str, str]:
    """A fresh AccessKey id and secret, not yet issued."""
    access_key_id = "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))
    return access_key_id, "".join(secrets.choice(_ALNUM) for _ in range(30))


def _binding(access_key_id: str) -> bytes:
    return f"access-key/{access_key_id}".encode()


class AccessKeyService:
    """Looks AccessKeys up (cached: the gateway checks one per request) and creates them."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        clock: Callable[[], float],
        cache_size: int,
        bus: Invalidations | None = None,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._cache: LruCache[str, AccessKeyEntry] = LruCache(cache_size, "access_key")
        self._bus = bus or Invalidations()
        self._bus.register(
            "access_key", lambda args: self._cache.discard(args[0]), self._cache.clear
        )
        self._bus.register("access_keys", lambda _args: self._cache.clear(), self._cache.clear)

    def lookup(self, access_key_id: str) -> AccessKeyEntry | None:
        """The AccessKey with this id, or None when there is none."""
        if _ID.fullmatch(access_key_id) is None:
            # Not a shape any AccessKey id has (a NUL among them: a 500 on PostgreSQL, as the
            # console's sign-in, which takes the id as typed, met it): none, unlooked-up.
            return None
        return self._cache.get_or_load(access_key_id, self._load)

    def _load(self, access_key_id: str) -> AccessKeyEntry | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(t.access_keys).where(t.access_keys.c.id == access_key_id)
            ).first()
        if row is None:
            return None
        secret = self._keyring.unwrap(row.wrapped_secret, _binding(access_key_id))
        return AccessKeyEntry(
            secret.reveal().decode("ascii"),
            Principal(row.account_id, row.principal, access_key_id),
            row.status,
        )

    def create(self, account_id: str, principal: str) -> tuple[str, str]:
        """A new Active AccessKey for ``principal``, unlimited: (id, secret)."""
        created = self.issue(account_id, principal)
        return created.access_key_id, created.secret

    def issue(
        self,
        account_id: str,
        principal: str,
        *,
        ram_user: bool = False,
        pair: tuple[str, str] | None = None,
    ) -> NewAccessKey:
        """A new Active AccessKey, its secret shown only here; a RAM user holds two at most.
        ``pair`` is an (id, secret) from ``new_pair`` that the caller recorded first (secret
        rotation stores the new key before it exists, so a crash cannot lose it)."""
        access_key_id, secret = pair or new_pair()
        created_at = int(self._clock())
        with self._db.begin() as conn:
            if ram_user:
                # The user must exist, and its row stays locked until the key is in: a
                # concurrent DeleteUser or rename cannot leave the key pointing at nobody.
                lock_user(conn, account_id, principal)
                held = conn.execute(
                    select(func.count())
                    .select_from(t.access_keys)
                    .where(
                        t.access_keys.c.account_id == account_id,
                        t.access_keys.c.principal == principal,
                    )
                ).scalar_one()
                if held >= MAX_PER_USER:
                    raise RamLimitExceeded("User.AccessKey")
            conn.execute(
                insert(t.access_keys).values(
                    id=access_key_id,
                    account_id=account_id,
                    principal=principal,
                    wrapped_secret=self._keyring.wrap(secret.encode(), _binding(access_key_id)),
                    status=ACTIVE,
                    created_at=created_at,
                )
            )
        return NewAccessKey(access_key_id, secret, ACTIVE, created_at)

    def has_admin_key(self, account_id: str) -> bool:
        """Whether the account's administrator already has an AccessKey."""
        with self._db.read() as conn:
            return (
                conn.execute(
                    select(t.access_keys.c.id).where(
                        t.access_keys.c.account_id == account_id,
                        t.access_keys.c.principal == ADMIN,
                    )
                ).first()
                is not None
            )

    def listing(self, account_id: str, principal: str) -> list[AccessKeyInfo]:
        """ListAccessKeys of one principal, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.access_keys.c.id, t.access_keys.c.status, t.access_keys.c.created_at)
                .where(
                    t.access_keys.c.account_id == account_id,
                    t.access_keys.c.principal == principal,
                )
                .order_by(t.access_keys.c.created_at, t.access_keys.c.id)
            ).all()
        return [AccessKeyInfo(r.id, r.status, r.created_at) for r in rows]

    def set_status(self, account_id: str, principal: str, access_key_id: str, status: str) -> None:
        """UpdateAccessKey: Active or Inactive; effective on the next request."""
        if status not in (ACTIVE, INACTIVE):
            raise InvalidInput("Status", "It must be Active or Inactive.")
        with self._db.begin() as conn:
            changed = conn.execute(
                update(t.access_keys)
                .where(
                    t.access_keys.c.id == access_key_id,
                    t.access_keys.c.account_id == account_id,
                    t.access_keys.c.principal == principal,
                )
                .values(status=status)
            ).rowcount
        if not changed:
            raise EntityNotExist("User.AccessKey", access_key_id)
        self._bus.publish("access_key", access_key_id)

    def delete(self, account_id: str, principal: str, access_key_id: str) -> None:
        """DeleteAccessKey: the key stops working on the next request."""
        with self._db.begin() as conn:
            removed = conn.execute(
                delete(t.access_keys).where(
                    t.access_keys.c.id == access_key_id,
                    t.access_keys.c.account_id == account_id,
                    t.access_keys.c.principal == principal,
                )
            ).rowcount
        if not removed:
            raise EntityNotExist("User.AccessKey", access_key_id)
        self._bus.publish("access_key", access_key_id)
        self._db.erase()

    def forget_all(self) -> None:
        """Drop every cached key (after a user is renamed or deleted), on every node."""
        self._bus.publish("access_keys")
