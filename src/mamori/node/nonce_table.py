"""The node's replay memory: which (AccessKeyId, nonce) pairs its workers have accepted, in
memory every worker shares, so a captured request is accepted once per node, not once per
process.

Layout (one anonymous shared mapping, ``8 × (2 × G + G × C)`` bytes)::

    header:  G × (bucket number: int64)  G × (entries: int64)
    tables:  G × C × (fingerprint: uint64, 0 = empty slot)

A pair is remembered until its request could no longer be accepted: the freshness check lets a
request in while its signed timestamp ``ts`` is within ±``window`` of the clock, so the pair
must be kept until ``ts + window`` (plus ``skew``, for the other nodes' clocks). It goes into the
generation of that expiry instant: generation ``b`` holds expiries in ``[b × width, (b + 1) ×
width)`` and is wholly forgettable once the clock passes its end, so eviction is one memset of
a whole generation, never a per-entry sweep. ``G`` ring slots cover every expiry a fresh request
can have (from now to ``now + 2 × window + skew``: a request stamped ``window`` ahead).

Each generation is an open-addressing table of ``C`` 64-bit fingerprints with
linear probing, never deleted from until the whole generation is cleared, so a probe may stop
at the first empty slot. The fingerprint is BLAKE2b-64 of the pair under a random 16-byte key
of the table, which forked workers share, so an attacker can neither predict nor collide it; a
false "seen" has probability about entries / 2**64. A generation takes at most ``C × LOAD``
entries; past that the guard refuses new requests (``TableFull``) rather than forget a nonce
early.

A restart must not forget either: the node saves the table when it stops (``save``: its key
and the pages that hold anything, a few for a quiet node) and the next start loads it
(``load``), so a request accepted before a clean restart is still refused after it. (The key
is why the fingerprint is not the interpreter's ``hash``: that is seeded anew per start.) A node
that died without saving knows nothing of what it accepted; ``ReplayGuard``'s horizon covers
that.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import stat
import struct
import time
from pathlib import Path
from typing import Final

from mamori.node.shared import ProcessLock, shared_memory

SLOT_BYTES: Final = 8
LOAD: Final = 0.75
# Bytes of shared memory per nonce a node can remember at once (a full generation).
BYTES_PER_NONCE: Final = SLOT_BYTES / LOAD
_KEY_BYTES: Final = 16
# A saved table: magic, key, generations, slots, window (with skew), width, since; then its pages
# that hold anything, each as (offset: u64, length: u32, bytes).
_SAVED: Final = struct.Struct("<8s16sQQddq")
_PAGE: Final = struct.Struct("<QI")
_MAGIC: Final = b"MMNONCE2"
_PAGE_BYTES: Final = 4096
# In the node's run dir: the table a clean stop saved, and the mark of a start that has not
# saved yet (found at the next start: the node was killed, and what it accepted is unknown).
_SAVED_NAME: Final = "nonces.table"
_UNSAVED_NAME: Final = "nonces.unsaved"

log = logging.getLogger("mamori.nonces")


class TableFull(Exception):
    """The generation this nonce belongs in is full: refuse the request, forget nothing."""


class NonceTable:
    """Check-and-remember of nonces across a node's processes; O(generations) per request."""

    def __init__(
        self,
        lock_path: Path,
        capacity: int,
        window: float = 900.0,
        skew: float = 60.0,
        width: float = 300.0,
    ) -> None:
        """``capacity``: nonces the node must remember at once with clients whose clocks are
        right (each stays ``window + skew`` seconds); every generation can hold the share of it
        that arrives within one ``width``."""
        if capacity <= 0 or window <= 0 or width <= 0 or skew < 0:
            raise ValueError("capacity, window and width must be positive, skew not negative")
        self._window = window + skew
        self._width = width
        self.generations = math.ceil((2 * window + skew) / width) + 1
        per_generation = math.ceil(capacity * width / (window + skew))
        slots = max(16, math.ceil(per_generation / LOAD))
        self.slots = slots
        self._limit = int(slots * LOAD)
        g = self.generations
        self.bytes = SLOT_BYTES * (2 * g + g * slots)
        self._memory = shared_memory(self.bytes)
        words = memoryview(self._memory).cast("Q")
        self._buckets = words[:g]  # bucket number + 1 (0: never used), as unsigned
        self._counts = words[g : 2 * g]
        self._tables = [words[2 * g + i * slots : 2 * g + (i + 1) * slots] for i in range(g)]
        self._lock = ProcessLock(lock_path)
        self._set_key(os.urandom(_KEY_BYTES))
        # Since when the table knows every nonce accepted: a request signed earlier cannot be
        # checked here (``ReplayGuard``). At first the first whole second after it was made
        # (whole, because signed times are); a loaded table's own; 0 on a node's first start,
        # when nothing was ever accepted (``adopt``).
        self.since = math.ceil(time.time())

    def __len__(self) -> int:
        """Nonces remembered (expired generations included until they are reused)."""
        return sum(self._counts)

    def check_and_remember(
        self, access_key_id: str, nonce: str, timestamp: float, now: float
    ) -> bool:
        """True (and remembered) if the pair is new for the window; False if it was seen.
        ``timestamp`` is the request's signed time, already checked fresh against ``now``."""
        keyed = self._keyed.copy()
        # Length-prefixed: no two pairs spell the same input.
        keyed.update(f"{len(access_key_id)}:{access_key_id}{nonce}".encode())
        fingerprint = int.from_bytes(keyed.digest(), "little") or 1
        width = self._width
        current = int(now // width) + 1  # stored bucket numbers are offset by one
        target = max(int((timestamp + self._window) // width) + 1, current)
        if target >= current + self.generations:
            # Only a timestamp the freshness check should have refused gets here; storing it
            # would overwrite a live generation.
            raise ValueError("timestamp is beyond the freshness window")
        slots = self.slots
        buckets, counts, tables = self._buckets, self._counts, self._tables
        fd = self._lock.acquire()
        try:
            for g in range(self.generations):
                if buckets[g] < current or not counts[g]:
                    continue  # every entry in it has expired, or it is empty
                table = tables[g]
                i = fingerprint % slots
                while True:
                    slot = table[i]
                    if slot == fingerprint:
                        return False
                    if not slot:
                        break
                    i = i + 1 if i + 1 < slots else 0
            g = target % self.generations
            if buckets[g] != target:
                # The ring slot holds a generation that ended before ``now`` (or none): reuse it.
                self._clear(g)
                buckets[g] = target
                counts[g] = 0
            if counts[g] >= self._limit:
                raise TableFull
            table = tables[g]
            i = fingerprint % slots
            while table[i]:
                i = i + 1 if i + 1 < slots else 0
            table[i] = fingerprint
            counts[g] += 1
            return True
        finally:
            self._lock.release(fd)

    def _set_key(self, key: bytes) -> None:
        self._keyed = hashlib.blake2b(key=key, digest_size=8)
        self._key_bytes = key

    def _geometry(self) -> tuple[int, int, float, float]:
        return self.generations, self.slots, self._window, self._width

    def adopt(self, run: Path) -> None:
        """At a node's start, before the first fork: load what it accepted before it last
        stopped cleanly. ``since`` stays "now" only when the node has run before and that
        memory is lost; on its first start nothing was ever accepted, so nothing signed
        earlier needs refusing (a client whose clock lags is served)."""
        saved, mark = run / _SAVED_NAME, run / _UNSAVED_NAME
        ran_before = os.path.lexists(saved) or os.path.lexists(mark)
        if not self.load(saved) and not ran_before:
            self.since = 0
        mark.unlink(missing_ok=True)
        os.close(os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))

    def keep(self, run: Path) -> None:
        """When every worker of the node has stopped: save the table for the next start."""
        try:
            self.save(run / _SAVED_NAME)
            (run / _UNSAVED_NAME).unlink(missing_ok=True)
        except OSError as exc:
            log.error("cannot save the node's nonces (%s): the next start will not know them", exc)

    def save(self, path: Path) -> None:
        """Write the table to ``path`` (0600, atomically): its key and every page of it that
        holds anything. When the node's workers have stopped."""
        memory = memoryview(self._memory)
        zero = bytes(_PAGE_BYTES)
        tmp = path.with_name(path.name + ".tmp")
        # A new file, never one found there: a leftover (or planted) symlink would be followed
        # and its target overwritten, and a leftover file would keep its own mode.
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as out:
                out.write(_SAVED.pack(_MAGIC, self._key_bytes, *self._geometry(), self.since))
                for offset in range(0, len(memory), _PAGE_BYTES):
                    page = memory[offset : offset + _PAGE_BYTES]
                    if page != zero[: len(page)]:
                        out.write(_PAGE.pack(offset, len(page)))
                        out.write(page)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def load(self, path: Path) -> bool:
        """Take over the table saved at ``path``, before any worker uses this one, and remove
        the file; False (and a warning) when there is none or it does not fit this table.

        Loaded, the table also takes over the saved one's ``since``: it knows every nonce
        accepted from then on, so a request signed between then and this start (by a client
        whose clock is behind) is checked rather than refused. The file is removed so that a
        node that dies after this start finds none at its next, rather than this one, which
        knows nothing of what was accepted in between."""
        try:
            # Not a FIFO (which would block the start) nor a symlink: only the file save wrote.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("%s cannot be read (%s): the nonces it held are not known", path, exc)
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                log.warning("%s is not a file: the nonces it held are not known", path)
                return False
            with os.fdopen(fd, "rb", closefd=False) as src:
                data = src.read(
                    _SAVED.size + self.bytes + _PAGE.size * (self.bytes // _PAGE_BYTES + 1) + 1
                )
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)
        if len(data) < _SAVED.size:
            log.warning("%s is cut short: the nonces it held are not known", path)
            return False
        magic, key, *geometry, since = _SAVED.unpack_from(data)
        if magic != _MAGIC or tuple(geometry) != self._geometry():
            log.warning(
                "%s was saved by a table of another size (nonce_cache_entries changed?): "
                "the nonces it held are not known",
                path,
            )
            return False
        pages: list[tuple[int, bytes]] = []
        at = _SAVED.size
        while at < len(data):
            if at + _PAGE.size > len(data):
                break
            offset, length = _PAGE.unpack_from(data, at)
            at += _PAGE.size
            if length > _PAGE_BYTES or offset + length > self.bytes or at + length > len(data):
                break
            pages.append((offset, data[at : at + length]))
            at += length
        if at != len(data):
            log.warning("%s is damaged: the nonces it held are not known", path)
            return False
        memory = memoryview(self._memory)
        for offset, page in pages:
            memory[offset : offset + len(page)] = page
        self._set_key(key)
        # Never later than this table's own (a damaged value must not stop the node serving).
        self.since = min(since, self.since)
        return True

    def _clear(self, g: int) -> None:
        offset = SLOT_BYTES * (2 * self.generations + g * self.slots)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._memory, offset))
        ctypes.memset(address, 0, SLOT_BYTES * self.slots)
