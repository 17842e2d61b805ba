"""The store handle ``core`` and ``iam`` use: one engine, transactions, and the clock's epoch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine

from mamori.store.engine import DURABLE, READ_ONLY, checkpoint, migrate, open_engine

log = logging.getLogger("mamori.store")

# How long to wait before trying again when a reader kept a checkpoint from completing.
_ERASE_RETRY_S = 1.0

# Set while code runs on the event loop from memory only (``memory_only``): a store access
# there would stall every other request, so it raises ``StoreNeeded`` instead.
_MEMORY_ONLY: ContextVar[bool] = ContextVar("mamori_memory_only", default=False)


class StoreNeeded(Exception):
    """Work running ``memory_only`` needed the store (a cache miss): run it again where the
    store may be used (the executor). Raised before anything is read, so the caches are as
    they were."""


class _MemoryOnly:
    """``memory_only``'s context manager: a class, not a generator, as it runs twice per
    instance-API request (0.2 µs against 0.9 µs, measured)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _MEMORY_ONLY.set(True)

    def __exit__(self, *_: object) -> None:
        _MEMORY_ONLY.reset(self._token)


def memory_only() -> _MemoryOnly:
    """Within the block (in this thread's or task's context), ``Database.read`` and
    ``Database.begin`` raise ``StoreNeeded`` instead of reaching the store. The event loop's
    fast paths run in it and fall back to the executor on a miss; the executor's threads
    never inherit it (``run_in_executor`` does not copy the context)."""
    return _MemoryOnly()


class Database:
    """Owns the engine. ``begin()`` is one all-or-nothing transaction; ``read()`` a plain one."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        self.dialect = self.engine.dialect.name
        self._eraser = _WalEraser(self.engine) if self.dialect == "sqlite" else None

    def migrate(self) -> None:
        """Apply pending schema migrations."""
        migrate(self.engine)

    @contextmanager
    def begin(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception.
        ``durable`` (the default): on SQLite, the WAL is synced to disk at the commit, so an
        acknowledged write survives power loss too, as PostgreSQL's default commit does. A key
        created, acknowledged and then lost would strand every ciphertext made with it; writes
        are rare next to Encrypt, which writes nothing (docs/operations.md). Pass False only
        for a high-volume write whose loss on power failure harms nothing."""
        if _MEMORY_ONLY.get():
            raise StoreNeeded
        with self.engine.connect() as conn:
            conn.execution_options(**{DURABLE: durable})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work (on SQLite it does not take the write lock)."""
        if _MEMORY_ONLY.get():
            raise StoreNeeded
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    def erase(self) -> None:
        """Call after committing a deletion of wrapped material. On SQLite, the deleted rows are
        zeroed in the database file (``secure_delete``) but their earlier pages stay in the WAL
        until it is checkpointed: a background thread does that soon, off the caller's path.
        On PostgreSQL, dead tuples stay in their pages until VACUUM reuses the space
        (docs/security.md)."""
        if self._eraser is not None:
            self._eraser.request()

    def erase_now(self, table: str, timeout_s: float = 10.0) -> bool:
        """Make the old versions of rows just rewritten in ``table`` unreadable from the store's
        files before returning (a rewrap that must not leave the old wrapping behind). SQLite:
        checkpoint the WAL into the ``secure_delete`` database file and truncate it, retrying
        while readers hold older pages, for at most ``timeout_s``; False if they still did.
        PostgreSQL: ``VACUUM FULL`` rewrites the table, so no dead tuple keeps the old rows
        (its WAL segments, replicas and backups are the operator's to age out)."""
        if self.dialect != "sqlite":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'VACUUM FULL "{table}"')
            return True
        deadline = time.monotonic() + timeout_s
        while not checkpoint(self.engine):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        """Close every pooled connection (SQLite checkpoints its WAL on the last close)."""
        if self._eraser is not None:
            self._eraser.stop()
        self.engine.dispose()


class _WalEraser:
    """One daemon thread, started on first use, that runs ``wal_checkpoint(TRUNCATE)`` after
    deletions; requests made while it works are served by one more pass, not one each."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def request(self) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mamori-wal-eraser", daemon=True
                )
                self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None:
            self._wanted.set()
            thread.join()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping:
                return
            self._wanted.clear()
            try:
                done = checkpoint(self._engine)
            except Exception:
                log.exception("checkpointing the WAL after a deletion failed; will retry")
                done = False
            if not done:
                # A reader still uses older pages; they are copied once it finishes.
                self._wanted.set()
                time.sleep(_ERASE_RETRY_S)
