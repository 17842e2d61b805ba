"""The audit log writer: one chain, one writing process, records group-committed.

A request's record is chained and appended to an in-memory batch on the event loop
(``append``), and every request of the batch awaits one shared future. The batch is written
with ``os.write`` on the loop (into the page cache: microseconds) and made durable by one
``fdatasync`` on a dedicated thread; while that runs, the next batch accumulates, and it is
written the moment the sync returns. So a request waits for at most two syncs, and a sync
costs the loop nothing but a thread hand-off.

Fail-closed: the first write or sync that fails marks the log failed for good (until a
restart) and fails every record not yet durable; ``failure`` then says why, and gateways
refuse requests before they act (``Rejected.AuditUnavailable``). A record whose write failed
half-way is a torn line the next start seals (``chain.py``).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Final

from mamori.audit.chain import LOCK_NAME, digest, read_tail, segment_name

log = logging.getLogger("mamori.audit")

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024


class AuditUnavailable(Exception):
    """The record could not be made durable; the request must not be acknowledged."""


class ChainBusy(OSError):
    """Another process writes this chain (one writer per chain file)."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "the audit file took no more bytes")
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditLog:
    """Appends chained records to ``<audit_dir>/<chain>/`` with group commit."""

    def __init__(
        self,
        audit_dir: Path,
        chain: str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        observe_sync: Callable[[float, int], None] = lambda _seconds, _records: None,
    ) -> None:
        self.chain = chain
        self._dir = audit_dir / chain
        self._segment_bytes = segment_bytes
        self._observe_sync = observe_sync
        self._fd = -1
        self._lock_fd = -1
        self._segment = 0
        self._size = 0
        self._seq = 0
        self._prev = ""
        self._batch: list[bytes] = []
        self._batch_done: asyncio.Future[None] | None = None
        self._flush_scheduled = False
        self._syncing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.failure: str | None = None

    # -- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Take the chain's lock, seal a torn last record, and make the end durable. Raises
        ``OSError`` (``ChainBusy`` when another process holds the chain)."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = os.open(self._dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise ChainBusy(
                errno.EBUSY, f"another process writes the audit chain {self._dir}"
            ) from None
        tail = read_tail(self._dir)
        self._seq, self._prev = tail.seq, tail.last_hash
        if tail.segment == 0:
            self._start_segment(1)
            return
        self._segment, self._size = tail.segment, tail.size
        self._fd = os.open(self._dir / segment_name(tail.segment), os.O_WRONLY | os.O_APPEND)
        if tail.torn:
            log.warning(
                "audit chain %s: the last record of %s was torn by a crash (%d bytes); "
                "sealing it with a torn record",
                self.chain,
                segment_name(tail.segment),
                len(tail.torn),
            )
            body = (
                f'"type":"torn","time":"{_now()}","torn_bytes":{len(tail.torn)},'
                f'"torn_sha256":"{digest(tail.torn)}"'
            )
            data = b"\n" + self._chain(body)
            _write_all(self._fd, data)
            self._size += len(data)
        elif self._size == 0:
            # Created, then the process died before its header was written.
            data = self._header(tail.segment)
            _write_all(self._fd, data)
            self._size += len(data)
        os.fdatasync(self._fd)
        if self._size >= self._segment_bytes:
            self._rotate()

    def _start_segment(self, number: int) -> None:
        """Create segment ``number`` with its header record, durable with its directory entry."""
        path = self._dir / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        header = self._header(number)
        _write_all(fd, header)
        os.fdatasync(fd)
        _fsync_dir(self._dir)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._segment, self._size = fd, number, len(header)

    def _header(self, number: int) -> bytes:
        return self._chain(
            f'"type":"segment","time":"{_now()}","chain":{_quote(self.chain)},"segment":{number}'
        )

    def _rotate(self) -> None:
        self._start_segment(self._segment + 1)

    def _chain(self, body: str) -> bytes:
        """The next record with ``body`` as its members: seq and prev assigned, line hashed."""
        self._seq += 1
        line = f'{{"seq":{self._seq},{body},"prev":"{self._prev}"}}'.encode("ascii")
        self._prev = digest(line)
        return line + b"\n"

    # -- appending ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the log to the event loop that will append to it (in the serving process)."""
        self._loop = loop
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mamori-audit")

    @property
    def pending(self) -> int:
        """Records appended and not yet handed to a sync (the audit queue depth)."""
        return len(self._batch)

    def append(self, body: str) -> asyncio.Future[None]:
        """Chain a record; the future is done when it is durable (or failed with
        ``AuditUnavailable``). On the event loop only."""
        if self.failure is not None:
            raise AuditUnavailable(self.failure)
        assert self._loop is not None, "AuditLog.start was not called"
        self._batch.append(self._chain(body))
        done = self._batch_done
        if done is None:
            done = self._batch_done = self._loop.create_future()
        if not self._flush_scheduled and not self._syncing:
            # Later in this same loop pass: every request ready now joins this batch.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return done

    def _flush(self) -> None:
        self._flush_scheduled = False
        done, data, count = self._batch_done, b"".join(self._batch), len(self._batch)
        self._batch.clear()
        self._batch_done = None
        if done is None or self.failure is not None:
            return
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self._fail(f"cannot write {self._segment_path()}: {exc.strerror or exc}", done)
            return
        self._size += len(data)
        self._syncing = True
        assert self._thread is not None and self._loop is not None
        started = time.perf_counter()
        synced = self._thread.submit(os.fdatasync, self._fd)
        loop = self._loop
        synced.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._synced, f, done, started, count)
        )

    def _synced(
        self, synced: ThreadFuture[None], done: asyncio.Future[None], t0: float, count: int
    ) -> None:
        self._syncing = False
        exc = synced.exception()
        if exc is not None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._fail(f"cannot sync {self._segment_path()}: {reason}", done)
            return
        self._observe_sync(time.perf_counter() - t0, count)
        if not done.done():
            done.set_result(None)
        if self._size >= self._segment_bytes:
            try:
                self._rotate()
            except OSError as rotation:
                reason = rotation.strerror or str(rotation)
                self._fail(f"cannot start a new audit segment: {reason}", None)
                return
        if self._batch and not self._flush_scheduled:
            self._flush()

    def _fail(self, reason: str, done: asyncio.Future[None] | None) -> None:
        self.failure = reason
        log.error("audit log failed, requests are refused from now on: %s", reason)
        for future in (done, self._batch_done):
            if future is not None and not future.done():
                future.set_exception(AuditUnavailable(reason))
        self._batch.clear()
        self._batch_done = None

    def _segment_path(self) -> Path:
        return self._dir / segment_name(self._segment)

    async def drain(self) -> None:
        """Wait until every appended record is durable (before a clean stop)."""
        while self.failure is None and (self._batch_done is not None or self._syncing):
            await asyncio.sleep(0.001)

    def close(self) -> None:
        """Close the files and stop the sync thread (after ``drain``)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
