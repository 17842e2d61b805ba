"""Cache invalidations between nodes through PostgreSQL LISTEN/NOTIFY.

``send`` issues ``pg_notify`` on a pooled connection (delivered to every listener when it
commits, which is at once: it runs alone). One thread per node holds a dedicated connection that
LISTENs and hands each payload to the invalidation bus; when that connection breaks it
reconnects, and resets every cache, since messages may have been missed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from mamori.store.database import Database

CHANNEL = "mamori_invalidate"
# NOTIFY payloads must stay under 8000 bytes; ours are a topic and a few ids.
MAX_PAYLOAD = 7900
RETRY_SECONDS = 1.0

log = logging.getLogger("mamori.notify")


def is_postgres(db: Database) -> bool:
    """Whether the store is PostgreSQL (several nodes can share it)."""
    return db.engine.dialect.name == "postgresql"


def sender(db: Database) -> Callable[[str], None]:
    """A function that NOTIFYs every node listening on the store."""

    def send(payload: str) -> None:
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("invalidation message too long")
        with db.begin() as conn:
            conn.execute(select(func.pg_notify(CHANNEL, payload)))

    return send


class Listener:
    """The thread that receives other nodes' invalidations."""

    def __init__(
        self, db: Database, receive: Callable[[str], None], reset: Callable[[], None]
    ) -> None:
        url = make_url(db.engine.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._receive = receive
        self._reset = reset
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mamori-notify", daemon=True)

    def start(self, wait: float = 10.0) -> None:
        """Start listening; returns once the first LISTEN is in place (or after ``wait``)."""
        self._thread.start()
        self._listening.wait(wait)

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg  # here, not at the top: a SQLite server starts without it

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever changed while nobody listened here is unknown (before the first
                    # LISTEN too, if it came late): forget everything.
                    self._reset()
                    self._listening.set()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            self._receive(notice.payload)
            except Exception as exc:
                # Nothing but stop() may end this thread: a dead listener would leave this
                # node's caches stale for good.
                log.warning("lost the invalidation listener (%s); reconnecting", type(exc).__name__)
                self._stop.wait(RETRY_SECONDS)
