"""The audit key: the one 256-bit HMAC key of a deployment that every audit record carries a MAC
under (docs/audit.md, "The keyed chain").

One key per deployment, not per node: every node and worker of a store signs with it, so any
node's ``mamori audit verify`` checks every chain. It is made at random by the first server to
start on a store and kept only wrapped by the keyring (AAD ``mamori/audit-key``), which the root
of trust (a key file or a PKCS#11 token) opens: whoever can write the audit files but cannot
open the keyring cannot make a MAC. It is never written anywhere in clear.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from mamori.crypto.material import KeyMaterial
from mamori.seal.keyring import Keyring
from mamori.store import schema as t
from mamori.store.database import Database

_BINDING = b"mamori/audit-key"
_ROW = 1
KEY_BYTES = 32


class NoAuditKey(Exception):
    """The store holds no audit key (no server of a keyed Mamori has started on it)."""


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The key, and when it was made (epoch seconds): records written since carry a MAC."""

    material: KeyMaterial
    created_at: int

    def keyed_since(self) -> str:
        """From when on every record carries a MAC, in the form records carry their ``time`` (so
        the two compare as strings). ``created_at`` is rounded down: a record written without a
        MAC in the very second the key was made, before it, would be taken for one whose MAC
        was removed. It cannot be: the key is made before this version writes a record, and a
        node of the version before must have stopped (or be on another chain)."""
        return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(self.created_at))


def open_audit_key(db: Database, keyring: Keyring) -> AuditKey:
    """The deployment's audit key; made and stored wrapped when the store has none yet. Nodes
    starting together race to insert it: the loser reads the winner's."""
    found = read_audit_key(db, keyring)
    if found is not None:
        return found
    raw = os.urandom(KEY_BYTES)
    created_at = int(time.time())
    try:
        with db.begin() as conn:
            conn.execute(
                insert(t.audit_key).values(
                    id=_ROW, wrapped_key=keyring.wrap(raw, _BINDING), created_at=created_at
                )
            )
    except IntegrityError:
        found = read_audit_key(db, keyring)
        if found is None:
            raise
        return found
    return AuditKey(KeyMaterial(raw), created_at)


def read_audit_key(db: Database, keyring: Keyring) -> AuditKey | None:
    """The stored audit key unwrapped, or None when there is none. Raises ``DecryptionFailed``
    when the keyring does not open it."""
    with db.read() as conn:
        row = conn.execute(
            select(t.audit_key.c.wrapped_key, t.audit_key.c.created_at).where(
                t.audit_key.c.id == _ROW
            )
        ).first()
    if row is None:
        return None
    return AuditKey(keyring.unwrap(row.wrapped_key, _BINDING), row.created_at)


def has_audit_key_table(db: Database) -> bool:
    """Whether the store is at a schema that holds the audit key (the verifier never migrates)."""
    return inspect(db.engine).has_table(t.audit_key.name)
