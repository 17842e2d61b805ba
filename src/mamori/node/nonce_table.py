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
at the first empty slot. The fingerprint is ``hash((access_key_id, nonce))``: SipHash keyed by
the interpreter's random seed, which forked workers share, so an attacker can neither predict
nor collide it; a false "seen" has probability about entries / 2**64. A generation takes at
most ``C × LOAD`` entries; past that the guard refuses new requests (``TableFull``) rather than
forget a nonce early.
"""

from __future__ import annotations

import ctypes
import math
import time
from pathlib import Path
from typing import Final

from mamori.node.shared import ProcessLock, shared_memory

SLOT_BYTES: Final = 8
LOAD: Final = 0.75
# Bytes of shared memory per nonce a node can remember at once (a full generation).
BYTES_PER_NONCE: Final = SLOT_BYTES / LOAD
_MASK64: Final = (1 << 64) - 1


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
        # The first whole second after the table was made: the table knows nothing of what
        # was accepted before it (by this node before a restart), so a request signed earlier
        # cannot be checked here (``ReplayGuard``). Whole, because signed times are.
        self.since = math.ceil(time.time())

    def __len__(self) -> int:
        """Nonces remembered (expired generations included until they are reused)."""
        return sum(self._counts)

    def check_and_remember(
        self, access_key_id: str, nonce: str, timestamp: float, now: float
    ) -> bool:
        """True (and remembered) if the pair is new for the window; False if it was seen.
        ``timestamp`` is the request's signed time, already checked fresh against ``now``."""
        fingerprint = (hash((access_key_id, nonce)) & _MASK64) or 1
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

    def _clear(self, g: int) -> None:
        offset = SLOT_BYTES * (2 * self.generations + g * self.slots)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._memory, offset))
        ctypes.memset(address, 0, SLOT_BYTES * self.slots)
