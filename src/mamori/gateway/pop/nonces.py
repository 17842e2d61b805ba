"""The replay guard: an AccessKey may use a signature nonce once within the freshness window.

A request is accepted while its timestamp is within ±15 minutes of the server clock, so a
request stamped 15 minutes ahead stays acceptable for 30 minutes: nonces are kept for twice the
freshness window (``900 * 2`` seconds).

This cache is per process. Distributed mode (several nodes or workers) will record nonces in the
shared store instead, since a replay sent to another node would not be seen here.
"""

from __future__ import annotations

import math

from mamori.api.errors import ApiError


class NonceCache:
    """Bounded, time-bucketed memory of (AccessKeyId, nonce) pairs; O(1) per request.

    Entries go into buckets ``window / buckets`` seconds wide; a whole bucket is dropped once its
    newest possible entry is older than the window, so eviction costs nothing per entry. A pair
    is stored as its 64-bit ``hash()``: constant memory per entry (about 70 bytes) however long
    the nonce, at the price of a ~n/2**64 chance of refusing a fresh request as a replay.

    Size ``max_entries`` for the peak request rate times the window (1,000 requests/s over
    30 minutes is 1.8 million entries). When it is full the cache fails closed: it refuses new
    requests with ``ServiceUnavailableTemporary`` rather than forget nonces early.
    """

    __slots__ = ("_buckets", "_keep", "_max_entries", "_newest", "_size", "_width")

    def __init__(
        self, window_seconds: float = 900 * 2, max_entries: int = 4_000_000, buckets: int = 8
    ) -> None:
        if window_seconds <= 0 or max_entries <= 0 or buckets <= 0:
            raise ValueError("window_seconds, max_entries and buckets must be positive")
        self._width = window_seconds / buckets
        # Bucket b may hold an entry from just before (b + 1) * width, which must live until
        # window later; so b is kept while b >= newest - keep.
        self._keep = math.ceil(window_seconds / self._width)
        self._max_entries = max_entries
        self._buckets: dict[int, set[int]] = {}  # bucket index -> keys, oldest first
        self._newest: int | None = None
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def check_and_remember(self, access_key_id: str, nonce: str, now: float) -> bool:
        """Remember the pair and return True, or return False if it was seen within the window."""
        index = int(now // self._width)
        newest = self._newest
        if newest is None or index > newest:
            self._newest = newest = index
            self._evict(newest - self._keep)
        key = hash((access_key_id, nonce))
        for bucket in self._buckets.values():
            if key in bucket:
                return False
        if self._size >= self._max_entries:
            raise ApiError("ServiceUnavailableTemporary")
        # Always the newest bucket, even if the clock stepped back: that only keeps it longer.
        current = self._buckets.get(newest)
        if current is None:
            current = self._buckets[newest] = set()
        current.add(key)
        self._size += 1
        return True

    def _evict(self, oldest_kept: int) -> None:
        buckets = self._buckets
        while buckets:
            first = next(iter(buckets))
            if first >= oldest_kept:
                return
            self._size -= len(buckets.pop(first))
