"""Who runs the background jobs: one process per deployment, however many workers and nodes.

On PostgreSQL the lease is a session advisory lock, held on a connection of its own for as long
as the holder lives: when its process or connection dies, PostgreSQL releases it and another
worker (of any node) takes it at its next try. On SQLite (one node, one database file) it is an
exclusive ``flock`` on a file beside the database, which the kernel releases when its holder
dies. Either way a try never blocks: the workers that do not hold it skip the pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from sqlalchemy.engine import make_url

from mamori.store.database import Database

# psycopg is imported where PostgreSQL is in use: a SQLite server starts without it.
if TYPE_CHECKING:
    import psycopg

# pg_advisory_lock's key: "mamori-jobs" folded into a bigint, so other applications sharing the
# database are unlikely to pick it.
ADVISORY_KEY: Final = 0x6D616D6F72696A62
_SIGNED: Final = ADVISORY_KEY - (1 << 64) if ADVISORY_KEY >= 1 << 63 else ADVISORY_KEY

log = logging.getLogger("mamori.jobs")


class JobLease(Protocol):
    """The right to run this pass of the background jobs."""

    def held(self) -> bool:
        """Whether this process holds the lease now (taking it if it is free)."""
        ...

    def release(self) -> None:
        """Give it up (at shutdown)."""
        ...


class FileLease:
    """SQLite: ``flock`` on ``<database>.jobs.lock``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def held(self) -> bool:
        """Take the lock if nobody holds it; keep it once taken."""
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Close the file, which drops the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AdvisoryLease:
    """PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection."""

    def __init__(self, db: Database) -> None:
        url = make_url(db.engine.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def held(self) -> bool:
        """Check the connection that holds it is alive, or try to take it."""
        import psycopg

        try:
            if self._conn is not None:
                self._conn.execute("SELECT 1")
                return True
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_SIGNED,)).fetchone()
            if row is None or not row[0]:
                conn.close()
                return False
            self._conn = conn
            return True
        except psycopg.Error as exc:
            # The session (and with it the lock) may be gone: another worker may hold it now.
            log.warning("lost the background-jobs lease (%s)", type(exc).__name__)
            self.release()
            return False

    def release(self) -> None:
        """Close the connection, which releases the lock."""
        conn, self._conn = self._conn, None
        if conn is not None:
            import psycopg

            with contextlib.suppress(psycopg.Error):
                conn.close()


def job_lease(db: Database) -> JobLease:
    """The lease for this store."""
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLease(db)
    database = make_url(db.engine.url).database or "mamori.db"
    return FileLease(Path(f"{database}.jobs.lock"))
