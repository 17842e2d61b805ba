"""Console sessions in the store, so that every worker process and node knows them.

A node runs one worker per core on the same ports, and the kernel hands each new connection to
any of them: sessions kept in one process's memory would sign a browser out whenever its next
connection reached another worker. The rules are ``sessions.SessionStore``'s (idle and total
lifetimes, at most ``MAX_SESSIONS_PER_KEY`` per AccessKey ending that key's oldest, a full table
refusing new sign-ins rather than ending anyone's session); only the table is shared.

Nothing in a row authenticates anyone: the row is keyed by the SHA-256 of the cookie's value,
and the CSRF token is an HMAC of that value, computed when the session is read. A flash message
is a courtesy and stays in the process that set it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from mamori.gateway.console.sessions import Session, SessionRules, SessionsFull, digest
from mamori.store import schema as t
from mamori.store.database import Database

# The idle clock is written back at most this often per session (a page loads many assets).
_TOUCH_SECONDS = 30.0
_FLASHES_KEPT = 1_000


def _csrf(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"mamori console csrf", "sha256").hexdigest()


class StoredSessions(SessionRules):
    """The console's sessions, shared through the store (same interface as ``SessionStore``)."""

    def __init__(self, db: Database, **rules: Any) -> None:
        super().__init__(**rules)
        self._db = db
        # This process's flash messages by digest, bounded (oldest dropped).
        self._flashes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, access_key_id: str, principal_arn: str) -> tuple[str, Session]:
        """A new session and the id to hand to the browser (never stored)."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        c = t.console_sessions.c
        with self._db.begin() as conn:
            conn.execute(
                delete(t.console_sessions).where(
                    or_(c.last_seen < now - self._idle, c.created_at < now - self._max_age)
                )
            )
            own = conn.execute(
                select(c.digest)
                .where(c.access_key_id == access_key_id)
                .order_by(c.created_at, c.digest)
            ).scalars()
            own_digests = list(own)
            doomed = own_digests[: max(0, len(own_digests) - self._max_per_key + 1)]
            if doomed:
                conn.execute(delete(t.console_sessions).where(c.digest.in_(doomed)))
            count = conn.execute(select(func.count()).select_from(t.console_sessions)).scalar()
            if (count or 0) >= self._max:
                raise SessionsFull
            conn.execute(
                insert(t.console_sessions).values(
                    digest=digest(session_id),
                    access_key_id=access_key_id,
                    principal_arn=principal_arn,
                    created_at=now,
                    last_seen=now,
                )
            )
        return session_id, Session(access_key_id, principal_arn, _csrf(session_id), now, now)

    def get(self, session_id: str) -> Session | None:
        """The live session this id names (its idle clock restarted), or None."""
        if not session_id or len(session_id) > 128:
            return None
        key = digest(session_id)
        now = self._clock()
        c = t.console_sessions.c
        with self._db.read() as conn:
            row = conn.execute(select(t.console_sessions).where(c.digest == key)).first()
        if row is None:
            return None
        if self.expired(row.created_at, row.last_seen, now):
            self.end(session_id)
            return None
        if now - row.last_seen > _TOUCH_SECONDS:
            with self._db.begin() as conn:
                conn.execute(
                    update(t.console_sessions).where(c.digest == key).values(last_seen=now)
                )
        session = Session(
            row.access_key_id, row.principal_arn, _csrf(session_id), row.created_at, now
        )
        with self._lock:
            session.flash = self._flashes.pop(key, "")
        return session

    def keep_flash(self, session_id: str, message: str) -> None:
        """Remember a message for the session's next page (in this process only)."""
        if not message:
            return
        key = digest(session_id)
        with self._lock:
            self._flashes[key] = message
            self._flashes.move_to_end(key)
            while len(self._flashes) > _FLASHES_KEPT:
                self._flashes.popitem(last=False)

    def end(self, session_id: str) -> None:
        """Sign-out: the id stops working at once, on every worker and node."""
        with self._db.begin() as conn:
            conn.execute(
                delete(t.console_sessions).where(t.console_sessions.c.digest == digest(session_id))
            )

    def end_for_key(self, access_key_id: str) -> int:
        """End every session signed in with this AccessKey; how many there were."""
        with self._db.begin() as conn:
            done = conn.execute(
                delete(t.console_sessions).where(
                    t.console_sessions.c.access_key_id == access_key_id
                )
            )
        return int(done.rowcount or 0)

    def __len__(self) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(t.console_sessions)).scalar() or 0
            )
