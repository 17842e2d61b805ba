"""The audit log writer: one chain, one writing process, records group-committed.

On the event loop a request's record is chained (seq, prev, hash) and added to the batch being
gathered (``append``); every request of the batch awaits one shared future. Once per loop pass
(so every request ready in that pass joins the batch) the loop writes the batch with one
``write`` to the page cache and asks the chain's syncer process (``syncer.py``) for one
``fdatasync``; the batch's future is done when the syncer answers. Meanwhile the next batch
gathers, and is written the moment the answer arrives. So one sync serves every request that
arrived during the previous one, a request waits for at most two syncs, and the worker's
interpreter never waits on the disk nor hands its GIL to a thread that does.

A segment boundary is chained in order too: when the segment is full, the next segment's
header record is chained before the next record; the loop, reaching it, syncs the old file,
creates the new one (synced with its directory), writes on there and hands it to the syncer.

Fail-closed: the first write or sync that fails (or the syncer's death) marks the log failed
for good (until a restart) and fails every record not yet durable; ``failure`` then says why,
and gateways refuse requests before they act (``Rejected.AuditUnavailable``). A record whose
write failed half-way is a torn line the next start seals (``chain.py``).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Final

from mamori.audit.chain import LOCK_NAME, MAC_MEMBER, Mac, digest, read_tail, segment_name
from mamori.audit.syncer import Syncer

log = logging.getLogger("mamori.audit")

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
# A group commit not durable by then fails the log closed: a hung disk (a stalled network
# mount, a D-state fdatasync, a stopped syncer) must not hold requests for ever.
SYNC_DEADLINE_SECONDS: Final = 10.0
# How long a clean stop waits for the last records before it gives up on them.
DRAIN_SECONDS: Final = 15.0


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
        mac_key: bytes | None = None,
    ) -> None:
        self.chain = chain
        # The audit key (audit/key.py): every record gets a MAC under it. None writes records
        # without one, as before keying (a server always has the key).
        self._mac = Mac(mac_key) if mac_key is not None else None
        self._dir = audit_dir / chain
        self._segment_bytes = segment_bytes
        self._observe_sync = observe_sync
        self._fd = -1  # the segment written to
        self._written: tuple[Path, int, int] = (Path(), 0, 0)  # its path, device and inode
        self._lock_fd = -1
        self._segment = 0  # the segment the next chained record goes to
        self._size = 0  # bytes chained into that segment (written or not)
        self._seq = 0
        self._prev = ""
        # On the event loop: chained lines not yet written (an int is a boundary: segment n
        # starts there), how many records, their future; the batch the syncer is syncing.
        self._pending: list[bytes | int] = []
        self._pending_records = 0
        self._pending_done: asyncio.Future[None] | None = None
        self._in_flight: tuple[asyncio.Future[None], float, int] | None = None
        self._overdue: asyncio.TimerHandle | None = None
        self._syncer = Syncer(chain)
        self._fd_sent = False  # whether the syncer holds the current segment's descriptor
        self._loop: asyncio.AbstractEventLoop | None = None
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
        self._adopt(
            os.open(self._dir / segment_name(tail.segment), os.O_WRONLY | os.O_APPEND),
            tail.segment,
        )
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
        fd = self._create(number)
        _write_all(fd, header)
        os.fdatasync(fd)
        self._adopt(fd, number)
        self._segment, self._size = number, len(header)

    def _adopt(self, fd: int, number: int) -> None:
        """Make ``fd``, segment ``number``, the file written to, remembering which file it is."""
        self._fd = fd
        status = os.fstat(fd)
        self._written = (self._dir / segment_name(number), status.st_dev, status.st_ino)

    def _still_there(self) -> None:
        """Raise ``OSError`` unless the segment written to is still the file at its path: one
        removed (by hand, or a log rotation rule) or replaced would take records nobody will
        ever read, and the chain would verify without them."""
        path, device, inode = self._written
        status = os.stat(path)
        if (status.st_dev, status.st_ino) != (device, inode):
            raise FileNotFoundError(errno.ENOENT, "replaced by another file")

    def _create(self, number: int) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        fd = os.open(self._dir / segment_name(number), flags, 0o600)
        _fsync_dir(self._dir)
        return fd

    def _chain(self, body: str) -> bytes:
        """The next record with ``body`` as its members: seq and prev assigned, MAC appended,
        line hashed."""
        self._seq += 1
        signed = f'{{"seq":{self._seq},{body},"prev":"{self._prev}"'.encode("ascii")
        sign = self._mac
        if sign is None:
            line = signed + b"}"
        else:
            line = b"".join((signed, MAC_MEMBER, sign(signed), b'"}'))
        self._prev = digest(line)
        return line + b"\n"

    # -- appending (event loop) -----------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the log to the event loop that appends to it, and start its syncer process."""
        self._loop = loop
        self._syncer.start(loop, self._answered)

    def append(self, body: str) -> asyncio.Future[None]:
        """Chain a record; the future is done when it is durable (or failed with
        ``AuditUnavailable``). On the event loop only."""
        if self.failure is not None:
            raise AuditUnavailable(self.failure)
        loop = self._loop
        assert loop is not None, "AuditLog.start was not called"
        if self._size >= self._segment_bytes:
            # The boundary is chained here, in order: the header follows the last record.
            number = self._segment + 1
            header = self._header(number)
            self._pending += (number, header)
            self._segment, self._size = number, len(header)
        line = self._chain(body)
        self._size += len(line)
        self._pending.append(line)
        self._pending_records += 1
        done = self._pending_done
        if done is None:
            done = self._pending_done = loop.create_future()
            if self._in_flight is None:
                # After this loop pass: every request ready now joins the batch.
                loop.call_soon(self._commit)
        return done

    def _commit(self) -> None:
        """Write the gathered batch to the page cache and ask the syncer to make it durable."""
        done = self._pending_done
        if done is None or self._in_flight is not None or self.failure is not None:
            return
        pieces, records = self._pending, self._pending_records
        self._pending, self._pending_records, self._pending_done = [], 0, None
        started = time.perf_counter()
        try:
            changed = self._write(pieces)
        except OSError as exc:
            self._fail(f"cannot write {self._written[0]}: {exc.strerror or exc}", done)
            return
        try:
            self._still_there()
        except OSError as exc:
            self._fail(f"the audit segment {self._written[0]} is gone: {exc.strerror}", done)
            return
        try:
            self._syncer.request(self._fd if changed else None)
        except OSError as exc:
            self._fail(f"the audit syncer stopped: {exc.strerror or exc}", done)
            return
        self._in_flight = (done, started, records)
        if self._overdue is None:
            assert self._loop is not None
            self._overdue = self._loop.call_later(SYNC_DEADLINE_SECONDS, self._sync_overdue)

    def _sync_overdue(self) -> None:
        """The deadline timer: fail closed if the commit in flight is past its deadline, else
        wait for the deadline of the one in flight now, if any. One timer serves the commits
        that start while it runs (a timer armed and cancelled per commit cost ~3,000
        instructions on the loop, per batch)."""
        self._overdue = None
        in_flight = self._in_flight
        if in_flight is None or self.failure is not None:
            return
        left = in_flight[1] + SYNC_DEADLINE_SECONDS - time.perf_counter()
        if left > 0:
            assert self._loop is not None
            self._overdue = self._loop.call_later(left, self._sync_overdue)
            return
        self._in_flight = None
        self._fail(
            f"the audit sync of {self._written[0]} has not finished in {SYNC_DEADLINE_SECONDS:g} s",
            in_flight[0],
        )

    def _write(self, pieces: list[bytes | int]) -> bool:
        """Write a batch, crossing segment boundaries; True when the file written to changed
        (the syncer must be handed the new one)."""
        changed, self._fd_sent = not self._fd_sent, True
        run: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, int):
                _write_all(self._fd, b"".join(run))
                run = []
                # Once per segment (64 MiB by default), on the loop: the old segment whole
                # and durable before the new one exists.
                os.fdatasync(self._fd)
                old = self._fd
                self._adopt(self._create(piece), piece)
                os.close(old)
                changed = True
            else:
                run.append(piece)  # after a boundary, the new segment's header comes first
        _write_all(self._fd, b"".join(run))
        return changed

    def _answered(self, number: int, code: int) -> None:
        """The syncer's answer to the batch in flight (``code``: its errno, 0 when durable);
        ``number`` is -1 when the syncer went away, in flight or idle."""
        in_flight, self._in_flight = self._in_flight, None
        done = in_flight[0] if in_flight is not None else None
        if number < 0:
            if self.failure is None:
                self._fail(f"the audit syncer stopped: {os.strerror(code)}", done)
            return
        if in_flight is None or done is None:
            return
        _done, started, records = in_flight
        if code:
            self._fail(f"cannot sync {self._written[0]}: {os.strerror(code)}", done)
            return
        if not done.done():
            done.set_result(None)
        self._observe_sync(time.perf_counter() - started, records)
        if self._pending_done is not None:
            self._commit()  # what gathered meanwhile: at once, one commit after another

    def _fail(self, reason: str, done: asyncio.Future[None] | None) -> None:
        """Mark the log failed for good and fail every record not yet durable."""
        self.failure = reason
        log.error("audit log failed, requests are refused from now on: %s", reason)
        futures = [done, self._pending_done]
        self._pending, self._pending_records, self._pending_done = [], 0, None
        for future in futures:
            if future is not None and not future.done():
                future.set_exception(AuditUnavailable(reason))

    async def drain(self) -> None:
        """Wait until every appended record is durable (before a clean stop), or the log
        failed, for at most ``DRAIN_SECONDS``."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.failure is None and (
            self._in_flight is not None or self._pending_done is not None
        ):
            if time.monotonic() > deadline:
                log.error("audit chain %s: stopping with records not yet durable", self.chain)
                return
            await asyncio.sleep(0.001)

    def close(self) -> None:
        """Stop the syncer and close the files (after ``drain``)."""
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None
        self._syncer.close()
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
