"""Managed data keys: a named data key, versioned, kept sealed under a KMS key.

Each version's plaintext is made with ``os.urandom`` and stored only as the blob Encrypt makes
under the data key's KMS key, with EncryptionContext ``{"kms:ManagedDataKey": name/version}``,
so a stored blob opens only as the version it was written for. Reading one (GetManagedDataKey)
therefore needs the KMS key Enabled, like Decrypt. Version ids are eight random letters and
digits (the form Alibaba shows, ``xH6OPUmz``); ``DataKeyVersionName`` is
``kms-datakeyversion!<name>!<version>``, the name Alibaba gives the version's storage.

Alibaba's API reads managed data keys but has no action that makes one; Mamori adds
CreateManagedDataKey and RotateManagedDataKey (extensions, docs/keys.md).
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from mamori.core.crypto_ops import CryptoService
from mamori.core.errors import DomainError, InvalidInput
from mamori.core.refs import Scope
from mamori.store import schema as t
from mamori.store.database import Database

NAME: Final = re.compile(r"[A-Za-z0-9_/+=.@-]{1,128}")
_ALPHABET: Final = string.ascii_letters + string.digits
VERSION_CHARS: Final = 8
MIN_BYTES, MAX_BYTES, DEFAULT_BYTES = 1, 1024, 32

Clock = Callable[[], float]


class DataKeyNotFound(DomainError):
    """No managed data key (or version) of that name in this account."""

    code = "Forbidden.ResourceNotFound"


class DataKeyExists(DomainError):
    """CreateManagedDataKey with a name already taken."""

    code = "Rejected.ResourceExist"


@dataclass(frozen=True, slots=True)
class DataKeyVersion:
    """One version: its id and, when read, its plaintext."""

    name: str
    version_id: str
    plaintext: bytes = b""

    @property
    def version_name(self) -> str:
        """Alibaba's DataKeyVersionName."""
        return f"kms-datakeyversion!{self.name}!{self.version_id}"


def _context(name: str, version_id: str) -> dict[str, str]:
    return {"kms:ManagedDataKey": f"{name}/{version_id}"}


def check_name(name: str) -> str:
    """A data key name: 1-128 of ``[A-Za-z0-9_/+=.@-]`` (the secret name alphabet)."""
    if not NAME.fullmatch(name):
        raise InvalidInput("DataKeyName", "It is 1-128 of A-Z a-z 0-9 _ / + = . @ -.")
    return name


class ManagedDataKeys:
    """Managed data keys of every account."""

    def __init__(self, db: Database, crypto: CryptoService, clock: Clock) -> None:
        self._db = db
        self._crypto = crypto
        self._clock = clock

    def key_of(self, scope: Scope, name: str) -> str | None:
        """The KMS key a data key is sealed under (for authorization), if it exists."""
        with self._db.read() as conn:
            found = conn.execute(
                select(t.managed_data_keys.c.key_id).where(
                    t.managed_data_keys.c.account_id == scope.account_id,
                    t.managed_data_keys.c.name == name,
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def create(self, scope: Scope, name: str, key: str, size: int) -> DataKeyVersion:
        """CreateManagedDataKey: the data key and its first version, sealed under ``key``."""
        check_name(name)
        if not MIN_BYTES <= size <= MAX_BYTES:
            raise InvalidInput("NumberOfBytes", f"It is {MIN_BYTES} to {MAX_BYTES}.")
        record, _version = self._crypto.encrypt_key(scope, key)
        version_id = _new_version_id()
        sealed = self._crypto.encrypt(
            scope, record.id, os.urandom(size), _context(name, version_id)
        )
        now = int(self._clock())
        try:
            with self._db.begin() as conn:
                conn.execute(
                    insert(t.managed_data_keys).values(
                        account_id=scope.account_id, name=name, key_id=record.id, created_at=now
                    )
                )
                self._insert(conn, scope, name, version_id, 1, sealed.blob, now)
        except IntegrityError as exc:
            raise DataKeyExists from exc
        return DataKeyVersion(name, version_id)

    def rotate(self, scope: Scope, name: str) -> DataKeyVersion:
        """RotateManagedDataKey: a new latest version as long as the first one."""
        key_id = self.key_of(scope, name)
        if key_id is None:
            raise DataKeyNotFound
        size = len(self.get(scope, name, None, use_latest=False).plaintext)
        version_id = _new_version_id()
        sealed = self._crypto.encrypt(scope, key_id, os.urandom(size), _context(name, version_id))
        now = int(self._clock())
        with self._db.begin() as conn:
            last = conn.execute(
                select(func.max(t.managed_data_key_versions.c.sequence)).where(
                    t.managed_data_key_versions.c.account_id == scope.account_id,
                    t.managed_data_key_versions.c.name == name,
                )
            ).scalar_one()
            # The unique (name, sequence) index refuses a concurrent rotation's duplicate.
            self._insert(conn, scope, name, version_id, int(last or 0) + 1, sealed.blob, now)
        return DataKeyVersion(name, version_id)

    @staticmethod
    def _insert(
        conn: Connection, scope: Scope, name: str, version_id: str, seq: int, blob: str, now: int
    ) -> None:
        conn.execute(
            insert(t.managed_data_key_versions).values(
                account_id=scope.account_id,
                name=name,
                version_id=version_id,
                sequence=seq,
                ciphertext=blob,
                created_at=now,
            )
        )

    def get(
        self, scope: Scope, name: str, version_id: str | None, use_latest: bool
    ) -> DataKeyVersion:
        """GetManagedDataKey: the named version, else the latest or (default) the first."""
        v = t.managed_data_key_versions.c
        query = select(v.version_id, v.ciphertext).where(
            v.account_id == scope.account_id, v.name == name
        )
        if version_id:
            query = query.where(v.version_id == version_id)
        else:
            query = query.order_by(v.sequence.desc() if use_latest else v.sequence).limit(1)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise DataKeyNotFound
        opened = self._crypto.decrypt(scope, row.ciphertext, _context(name, row.version_id))
        return DataKeyVersion(name, row.version_id, opened.plaintext)

    def versions(
        self, scope: Scope, name: str, offset: int, limit: int
    ) -> tuple[list[DataKeyVersion], int]:
        """ListManagedDataKeyVersions, oldest first, with the total count."""
        if self.key_of(scope, name) is None:
            raise DataKeyNotFound
        v = t.managed_data_key_versions.c
        where = (v.account_id == scope.account_id, v.name == name)
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(t.managed_data_key_versions).where(*where)
            ).scalar_one()
            rows = conn.execute(
                select(v.version_id).where(*where).order_by(v.sequence).offset(offset).limit(limit)
            ).all()
        return [DataKeyVersion(name, r.version_id) for r in rows], int(total)


def _new_version_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(VERSION_CHARS))
