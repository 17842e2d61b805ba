"""The node's invalidation ring: cache invalidations from one worker, read by its siblings at
the start of their next request (so a key disabled through worker A is refused by worker B on
the very next request, with no delivery race).

Layout (anonymous shared mapping)::

    header:  sequence (uint64: messages ever published)
    slots:   SLOTS × (publisher pid: uint32, length: uint32, payload: SLOT_BYTES - 8 bytes)

Message ``n`` lives in slot ``n % SLOTS``. A reader remembers the last sequence it applied; if
the writers lapped it (more than ``SLOTS`` behind) or a message did not fit its slot (length
``0``), it cannot know what it missed and resets every cache, as a node does when it loses its
PostgreSQL listener.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Final

from mamori.node.shared import ProcessLock, shared_memory

SLOTS: Final = 1024
SLOT_BYTES: Final = 512
_HEAD: Final = struct.Struct("<II")


class InvalidationRing:
    """Publish to, and poll from, the other workers of this node."""

    def __init__(self, lock_path: Path) -> None:
        self._memory = shared_memory(8 + SLOTS * SLOT_BYTES)
        self._sequence = memoryview(self._memory)[:8].cast("Q")
        self._lock = ProcessLock(lock_path)
        self._seen = 0

    def start(self) -> None:
        """Begin reading from now on (a fresh worker's caches are empty: nothing to catch up)."""
        self._seen = self._sequence[0]

    def publish(self, payload: str) -> None:
        """Append one message for the other workers."""
        data = payload.encode("utf-8")
        if len(data) > SLOT_BYTES - _HEAD.size:
            data = b""  # too long for a slot: readers reset instead
        with self._lock.held():
            sequence = self._sequence[0]
            offset = 8 + (sequence % SLOTS) * SLOT_BYTES
            _HEAD.pack_into(self._memory, offset, os.getpid(), len(data))
            self._memory[offset + _HEAD.size : offset + _HEAD.size + len(data)] = data
            self._sequence[0] = sequence + 1

    def poll(self) -> list[str] | None:
        """Messages other workers published since the last poll; None when this worker must
        reset every cache (it was lapped, or a message did not fit). One shared-memory read
        when there is nothing new."""
        if self._sequence[0] == self._seen:
            return []
        me = os.getpid()
        messages: list[str] = []
        with self._lock.held():
            sequence = self._sequence[0]
            seen, self._seen = self._seen, sequence
            if sequence - seen > SLOTS:
                return None
            for number in range(seen, sequence):
                offset = 8 + (number % SLOTS) * SLOT_BYTES
                pid, length = _HEAD.unpack_from(self._memory, offset)
                if pid == me:
                    continue
                if not length:
                    return None
                start = offset + _HEAD.size
                messages.append(bytes(self._memory[start : start + length]).decode("utf-8"))
        return messages
