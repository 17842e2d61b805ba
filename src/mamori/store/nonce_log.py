"""The nonces every node has accepted, in PostgreSQL, so a request replayed to another node is
refused too.

Each worker keeps one asyncio connection. Requests that reach the check while a batch is in
flight wait for the next one, so under load one statement carries many nonces (one round trip
per event-loop turn, not per request)::

    INSERT INTO nonces (fingerprint, expires_at) SELECT * FROM unnest($1, $2)
    ON CONFLICT (fingerprint) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE nonces.expires_at < $now          -- an expired row is a fresh nonce again
    RETURNING fingerprint                       -- the accepted ones; the rest are replays

The fingerprint is the first 16 bytes of SHA-256(AccessKeyId ‖ NUL ‖ nonce): fixed size,
collision-free in practice. When the database cannot be reached the check fails closed
(``NonceLogUnavailable``). ``purge`` (the background jobs' pass) deletes expired rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, cast

from sqlalchemy import delete
from sqlalchemy.engine import make_url

from mamori.store import schema as t

# psycopg is imported where PostgreSQL is in use: a SQLite server starts without it.
if TYPE_CHECKING:
    import psycopg
from mamori.store.database import Database

log = logging.getLogger("mamori.nonces")

_INSERT = (
    "INSERT INTO nonces (fingerprint, expires_at) "
    "SELECT * FROM unnest(%s::bytea[], %s::bigint[]) "
    "ON CONFLICT (fingerprint) DO UPDATE SET expires_at = EXCLUDED.expires_at "
    "WHERE nonces.expires_at < %s "
    "RETURNING fingerprint"
)


class NonceLogUnavailable(Exception):
    """The shared nonce log could not be written: the request must be refused."""


def fingerprint(access_key_id: str, nonce: str) -> bytes:
    """The stored form of one (AccessKeyId, nonce) pair."""
    return hashlib.sha256(f"{access_key_id}\x00{nonce}".encode()).digest()[:16]


class NonceLog:
    """Batched check-and-insert into the ``nonces`` table, from one event loop."""

    def __init__(self, db: Database) -> None:
        url = make_url(db.engine.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._pending: list[tuple[bytes, int, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def remember(self, access_key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """True if no node accepted the pair before (it is recorded now), False for a replay."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((fingerprint(access_key_id, nonce), expires_at, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(now))
        return await future

    async def _flush(self, now: int) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            seen: set[bytes] = set()
            rows: list[tuple[bytes, int]] = []
            for fp, expires_at, _ in batch:
                if fp not in seen:  # one statement may not touch a row twice
                    seen.add(fp)
                    rows.append((fp, expires_at))
            try:
                accepted = await self._insert(rows, now)
            except Exception as exc:
                log.warning("cannot record nonces in the store (%s)", type(exc).__name__)
                await self._close()
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(NonceLogUnavailable())
                continue
            for fp, _, future in batch:
                if not future.done():
                    future.set_result(fp in accepted)
                    accepted.discard(fp)  # a second request with the same pair is a replay

    async def _insert(self, rows: list[tuple[bytes, int]], now: int) -> set[bytes]:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=5
            )
        cursor = await self._conn.execute(
            _INSERT, ([fp for fp, _ in rows], [expires for _, expires in rows], now)
        )
        return {bytes(cast(bytes, row[0])) for row in await cursor.fetchall()}

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            import psycopg

            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def close(self) -> None:
        """Close the connection (at shutdown)."""
        await self._close()


def purge(db: Database, now: int) -> int:
    """Delete the rows whose requests can no longer be fresh; how many."""
    with db.begin() as conn:
        return conn.execute(delete(t.nonces).where(t.nonces.c.expires_at < now)).rowcount
