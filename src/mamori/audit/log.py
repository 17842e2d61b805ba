"""The audit log writer: one chain, one writing process, records group-committed.

A request's record is chained and appended to an in-memory batch on the event loop
(``append``), and every request of the batch awaits one shared future. Once per loop pass the
batch is written with ``os.write`` on the loop (into the page cache: microseconds) and an
``fdatasync`` is started on a sync thread; up to ``_MAX_SYNCS`` run at once, so a batch
written while a sync runs starts its own at once rather than queueing behind it (a sync makes
everything written before it began durable, so one that covers later batches resolves earlier
ones too). A sync costs the loop nothing but a thread hand-off.

A segment boundary is chained in order too: when the segment is full, the next segment's
header record is chained before the next record, and the flush that reaches it syncs the old
file, creates the new one (synced with its directory) and writes on there.

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
from collections import deque
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


_MAX_SYNCS: Final = 2


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
        self._retired: list[int] = []  # fds of closed segments a sync may still be using
        self._segment = 0  # the segment the next chained record goes to
        self._size = 0  # bytes chained into that segment (written or not)
        self._seq = 0
        self._prev = ""
        # Chained lines not yet written; an int is a boundary: segment n starts there.
        self._batch: list[bytes | int] = []
        self._batch_records = 0
        self._batch_done: asyncio.Future[None] | None = None
        self._flush_scheduled = False
        self._written = 0  # batches written
        self._covered = 0  # the last batch a started sync covers
        self._in_flight = 0
        self._waiting: deque[tuple[int, int, asyncio.Future[None]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: ThreadPoolExecutor | None = None
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
            self._open_segment(1, self._header(1))
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
            os.close(self._fd)
            self._open_segment(self._segment + 1, self._header(self._segment + 1))

    def _header(self, number: int) -> bytes:
        return self._chain(
            f'"type":"segment","time":"{_now()}","chain":{_quote(self.chain)},"segment":{number}'
        )

    def _open_segment(self, number: int, header: bytes) -> None:
        """Create segment ``number`` holding its (already chained) header, durable with its
        directory entry; it becomes the file written to."""
        fd = os.open(
            self._dir / segment_name(number),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL,
            0o600,
        )
        _write_all(fd, header)
        os.fdatasync(fd)
        _fsync_dir(self._dir)
        self._fd, self._segment, self._size = fd, number, len(header)

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
        self._threads = ThreadPoolExecutor(
            max_workers=_MAX_SYNCS, thread_name_prefix="mamori-audit"
        )

    @property
    def pending(self) -> int:
        """Records appended and not yet written (the audit queue depth)."""
        return self._batch_records

    def append(self, body: str) -> asyncio.Future[None]:
        """Chain a record; the future is done when it is durable (or failed with
        ``AuditUnavailable``). On the event loop only."""
        if self.failure is not None:
            raise AuditUnavailable(self.failure)
        assert self._loop is not None, "AuditLog.start was not called"
        if self._size >= self._segment_bytes:
            # The boundary is chained here, in order: the header follows the last record.
            number = self._segment + 1
            header = self._header(number)
            self._batch += (number, header)
            self._segment, self._size = number, len(header)
        line = self._chain(body)
        self._batch.append(line)
        self._batch_records += 1
        self._size += len(line)
        done = self._batch_done
        if done is None:
            done = self._batch_done = self._loop.create_future()
        if not self._flush_scheduled:
            # Later in this same loop pass: every request ready now joins this batch.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return done

    def _flush(self) -> None:
        self._flush_scheduled = False
        done, pieces, count = self._batch_done, self._batch, self._batch_records
        self._batch, self._batch_records, self._batch_done = [], 0, None
        if done is None or self.failure is not None:
            return
        try:
            run: list[bytes] = []
            for piece in pieces:
                if isinstance(piece, int):
                    _write_all(self._fd, b"".join(run))
                    run = []
                    self._next_segment(piece)
                else:
                    run.append(piece)  # the new segment's header comes first after a boundary
            _write_all(self._fd, b"".join(run))
        except OSError as exc:
            self._fail(f"cannot write {self._segment_path()}: {exc.strerror or exc}", done)
            return
        self._written += 1
        self._waiting.append((self._written, count, done))
        if self._in_flight < _MAX_SYNCS:
            self._start_sync()

    def _next_segment(self, number: int) -> None:
        """At a boundary: the old segment made durable (and every batch waiting on it), then
        the new one created."""
        os.fdatasync(self._fd)
        self._resolve(self._written)
        self._retired.append(self._fd)
        fd = os.open(
            self._dir / segment_name(number),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL,
            0o600,
        )
        _fsync_dir(self._dir)
        self._fd = fd

    def _start_sync(self) -> None:
        assert self._threads is not None and self._loop is not None
        cover = self._covered = self._written
        self._in_flight += 1
        loop, started = self._loop, time.perf_counter()
        synced = self._threads.submit(os.fdatasync, self._fd)
        synced.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._synced, f, cover, started)
        )

    def _synced(self, synced: ThreadFuture[None], cover: int, started: float) -> None:
        self._in_flight -= 1
        if self.failure is not None:
            return
        exc = synced.exception()
        if exc is not None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._fail(f"cannot sync {self._segment_path()}: {reason}", None)
            return
        self._observe_sync(time.perf_counter() - started, self._resolve(cover))
        if self._written > self._covered and self._in_flight < _MAX_SYNCS:
            self._start_sync()
        if self._in_flight == 0:
            for fd in self._retired:
                os.close(fd)
            self._retired.clear()

    def _resolve(self, cover: int) -> int:
        """Complete every batch up to ``cover``: it is durable. The records it completed."""
        records = 0
        while self._waiting and self._waiting[0][0] <= cover:
            _, count, done = self._waiting.popleft()
            records += count
            if not done.done():
                done.set_result(None)
        return records

    def _fail(self, reason: str, done: asyncio.Future[None] | None) -> None:
        self.failure = reason
        log.error("audit log failed, requests are refused from now on: %s", reason)
        futures = [done, self._batch_done, *(waiting for _, _, waiting in self._waiting)]
        for future in futures:
            if future is not None and not future.done():
                future.set_exception(AuditUnavailable(reason))
        self._waiting.clear()
        self._batch, self._batch_records, self._batch_done = [], 0, None

    def _segment_path(self) -> Path:
        return self._dir / segment_name(self._segment)

    async def drain(self) -> None:
        """Wait until every appended record is durable (before a clean stop)."""
        while self.failure is None and (
            self._batch_done is not None or self._waiting or self._in_flight
        ):
            await asyncio.sleep(0.001)

    def close(self) -> None:
        """Close the files and stop the sync threads (after ``drain``)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        for fd in (self._fd, self._lock_fd, *self._retired):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1
        self._retired.clear()


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
