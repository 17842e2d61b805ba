"""Console sessions: server-side, bounded, expiring; the browser holds only a random id.

The cookie's value is 256 random bits. The table is keyed by its SHA-256, so the ids that
authenticate a browser appear nowhere in the server's memory but in the request being served.
A session lives 15 minutes without use and 8 hours at most. One AccessKey holds at most
``MAX_SESSIONS_PER_KEY`` sessions (a new one ends that key's oldest); the table holds
``MAX_SESSIONS``, and when it is full of live sessions a new sign-in is refused
(``SessionsFull``): no sign-in ever ends another principal's live session. Nothing here knows
about HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

IDLE_SECONDS: Final = 15 * 60
MAX_AGE_SECONDS: Final = 8 * 60 * 60
MAX_SESSIONS: Final = 1_000
MAX_SESSIONS_PER_KEY: Final = 10


class SessionsFull(Exception):
    """The table holds ``MAX_SESSIONS`` live sessions: nobody else's is ended to make room."""


@dataclass(slots=True)
class Session:
    """One signed-in browser: which AccessKey it signed in with, its CSRF token, a message."""

    access_key_id: str
    principal_arn: str
    csrf_token: str
    created: float
    last_seen: float
    # One message to show on the next page (after a redirect), then forgotten.
    flash: str = field(default="")

    def csrf_matches(self, presented: str) -> bool:
        """Constant-time comparison with the token bound to this session."""
        return hmac.compare_digest(self.csrf_token.encode(), presented.encode())

    def __repr__(self) -> str:
        return f"Session(principal_arn={self.principal_arn!r})"


def digest(session_id: str) -> str:
    """The key a session is kept under: the SHA-256 of the cookie's value."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions(Protocol):
    """Where the console keeps its sessions: ``SessionStore`` (one process's memory) or
    ``stored_sessions.StoredSessions`` (the store: every worker and node; the server's)."""

    @property
    def max_age_seconds(self) -> float:
        """How long a session can live at most (the cookie's Max-Age)."""
        ...

    def create(self, access_key_id: str, principal_arn: str) -> tuple[str, Session]:
        """A new session and the id to hand to the browser."""
        ...

    def get(self, session_id: str) -> Session | None:
        """The live session this id names, or None."""
        ...

    def keep_flash(self, session_id: str, message: str) -> None:
        """Keep ``message`` for the session's next page."""
        ...

    def end(self, session_id: str) -> None:
        """Sign-out."""
        ...

    def end_for_key(self, access_key_id: str) -> int:
        """End every session of this AccessKey."""
        ...


class SessionRules:
    """The limits both session stores keep: lifetimes, the table's size, sessions per key."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        max_per_key: int = MAX_SESSIONS_PER_KEY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._idle = idle_seconds
        self._max_age = max_age_seconds
        self._max = max_sessions
        self._max_per_key = max_per_key
        self._clock = clock

    @property
    def max_age_seconds(self) -> float:
        """How long a session can live at most (the cookie's Max-Age)."""
        return self._max_age

    def expired(self, created: float, last_seen: float, now: float) -> bool:
        """Idle too long, or alive too long."""
        return now - last_seen > self._idle or now - created > self._max_age


class SessionStore(SessionRules):
    """Sessions of one process's memory (tests; the server keeps them in the store)."""

    def __init__(self, **rules: Any) -> None:
        super().__init__(**rules)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # Views run in a thread pool: every change to the table happens under this lock.
        self._lock = threading.Lock()

    def create(self, access_key_id: str, principal_arn: str) -> tuple[str, Session]:
        """A new session and the id to hand to the browser (never stored). The AccessKey's
        own oldest sessions end past ``max_per_key``; ``SessionsFull`` when the table is full
        of other live sessions."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(access_key_id, principal_arn, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._drop_expired(now)
            own = [k for k, s in self._sessions.items() if s.access_key_id == access_key_id]
            own.sort(key=lambda k: self._sessions[k].created)
            while own and len(own) >= self._max_per_key:
                del self._sessions[own.pop(0)]
            if len(self._sessions) >= self._max:
                raise SessionsFull
            self._sessions[digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session this id names (its idle clock restarted), or None."""
        if not session_id or len(session_id) > 128:
            return None
        key = digest(session_id)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[key]
                return None
            session.last_seen = now
            self._sessions.move_to_end(key)
            return session

    def keep_flash(self, session_id: str, message: str) -> None:
        """Nothing to do: the session object itself is kept."""

    def end(self, session_id: str) -> None:
        """Sign-out: the id stops working at once."""
        with self._lock:
            self._sessions.pop(digest(session_id), None)

    def end_for_key(self, access_key_id: str) -> int:
        """End every session signed in with this AccessKey; how many there were."""
        with self._lock:
            doomed = [k for k, s in self._sessions.items() if s.access_key_id == access_key_id]
            for key in doomed:
                del self._sessions[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return self.expired(session.created, session.last_seen, now)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
