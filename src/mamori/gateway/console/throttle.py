"""Failed console sign-ins, limited per source address and per AccessKey id, for a whole node.

Each source (an IPv4 address, an IPv6 /64, an AccessKey id as typed) may fail ``limit`` times
in a ``window`` of seconds that starts at its first failure; past that, every sign-in from the
address, or with the id, is refused unchecked (429, ``Retry-After``) until the window ends.
Successful sign-ins count nothing and reset nothing (a valid AccessKey of one's own must not
buy more guesses). Nothing here knows about HTTP.

The counts live in memory every worker process of the node shares (``node.shared``), made before
the workers are forked: the kernel hands each connection to any worker, and counts kept per
process gave an attacker the limit once per worker. An attempt is counted when it is let
through, under the node's lock, and uncounted if it succeeds, so concurrent guesses on several
workers cannot slip past the limit between a check and a count.

Layout: ``sets × ways`` slots of (fingerprint: uint64, window start: float64, count: float64).
A source's fingerprint is ``hash((kind, source))`` (SipHash keyed by the interpreter's seed,
which forked workers share: unpredictable, so an attacker cannot aim at a set); it lives in one
set of ``ways`` slots. Memory is bounded by ``max_entries``: a set without a free or expired
slot forgets its oldest window first.
"""

from __future__ import annotations

import ipaddress
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mamori.node.shared import ProcessLock, shared_memory

ADDRESS_LIMIT: Final = 10
ACCESS_KEY_LIMIT: Final = 20
WINDOW_SECONDS: Final = 300.0
MAX_ENTRIES: Final = 10_000
WAYS: Final = 8
_SLOT: Final = struct.Struct("<Qdd")
_MASK64: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Limited:
    """Why a sign-in is refused unchecked, and for how many more seconds."""

    by_address: bool
    retry_after: int


def _source(address: str) -> str:
    """An IPv6 address stands for its /64 (one host usually holds all of it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _fingerprints(address: str, access_key_id: str) -> tuple[tuple[str, int], ...]:
    return tuple(
        (kind, (hash((kind, source)) & _MASK64) or 1)
        for kind, source in (("ip", _source(address)), ("ak", access_key_id))
    )


class FailedSignIns:
    """Failure counts in fixed windows, for addresses and for AccessKey ids, shared by every
    process forked after it is made."""

    def __init__(
        self,
        lock_path: Path,
        *,
        address_limit: int = ADDRESS_LIMIT,
        access_key_limit: int = ACCESS_KEY_LIMIT,
        window_seconds: float = WINDOW_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,  # CLOCK_MONOTONIC: one for all processes
    ) -> None:
        self._limits = {"ip": address_limit, "ak": access_key_limit}
        self._window = window_seconds
        self._clock = clock
        self._ways = max(1, min(WAYS, max_entries))
        self._sets = max(1, max_entries // self._ways)
        self._memory = shared_memory(self._sets * self._ways * _SLOT.size)
        self._lock = ProcessLock(lock_path)

    def attempt(self, address: str, access_key_id: str) -> Limited | None:
        """A ``Limited`` if a sign-in from ``address`` with ``access_key_id`` is refused
        unchecked; otherwise None, and the attempt counts as a failure against both until
        ``succeeded`` says otherwise."""
        now = self._clock()
        sources = _fingerprints(address, access_key_id)
        with self._lock.held():
            for kind, fingerprint in sources:
                _, start, count = self._find(fingerprint, now)
                if count >= self._limits[kind]:
                    wait = max(1, math.ceil(start + self._window - now))
                    return Limited(by_address=kind == "ip", retry_after=wait)
            for _, fingerprint in sources:
                self._add(fingerprint, now, 1.0)
        return None

    def succeeded(self, address: str, access_key_id: str) -> None:
        """The attempt let through was a valid sign-in: it counts nothing."""
        now = self._clock()
        with self._lock.held():
            for _, fingerprint in _fingerprints(address, access_key_id):
                self._add(fingerprint, now, -1.0)

    def __len__(self) -> int:
        """Sources remembered (expired windows included until their slot is reused)."""
        size = _SLOT.size
        return sum(
            1
            for slot in range(self._sets * self._ways)
            if _SLOT.unpack_from(self._memory, slot * size)[0]
        )

    def _slots(self, fingerprint: int) -> range:
        first = (fingerprint % self._sets) * self._ways
        return range(first, first + self._ways)

    def _find(self, fingerprint: int, now: float) -> tuple[int, float, float]:
        """(slot, window start, count) of the source's live window; (-1, now, 0) if none."""
        for slot in self._slots(fingerprint):
            owner, start, count = _SLOT.unpack_from(self._memory, slot * _SLOT.size)
            if owner == fingerprint and now - start < self._window:
                return slot, start, count
        return -1, now, 0.0

    def _add(self, fingerprint: int, now: float, change: float) -> None:
        slot, start, count = self._find(fingerprint, now)
        if slot < 0:
            if change < 0:
                return  # its window has ended: nothing is left to take back
            slot = self._free_slot(fingerprint, now)
        count = max(0.0, count + change)
        _SLOT.pack_into(self._memory, slot * _SLOT.size, fingerprint, start, count)

    def _free_slot(self, fingerprint: int, now: float) -> int:
        """An empty or expired slot of the source's set, else the one of its oldest window."""
        oldest, oldest_start = -1, math.inf
        for slot in self._slots(fingerprint):
            owner, start, _ = _SLOT.unpack_from(self._memory, slot * _SLOT.size)
            if not owner or now - start >= self._window:
                return slot
            if start < oldest_start:
                oldest, oldest_start = slot, start
        return oldest
