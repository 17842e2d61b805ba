"""Secret answers cached in memory: least recently used out past ``CacheSize``, refetched
after ``TTLSeconds``, served stale while the server has a transient failure if
``IgnoreTransientErrors`` allows it.

An entry holds the answer already rendered (bytes of the configured shape), so a hit costs a
dict lookup. Concurrent misses of one secret share one upstream call. Nothing here is written
anywhere but memory; a refusal that is not transient (the secret deleted, a permission revoked)
drops the entry, so the agent stops serving a value within one TTL of losing the right to it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from mamori.agent.single_flight import SingleFlight
from mamori.agent.upstream import UpstreamError

# (secret name, VersionId, VersionStage): each answer the server could give separately.
Key = tuple[str, str | None, str | None]

HIT: Final = "hit"
MISS: Final = "miss"
STALE: Final = "stale"


@dataclass(slots=True)
class _Entry:
    body: bytes
    fetched_at: float


@dataclass(slots=True)
class CacheCounters:
    """What the cache did since start (``GET /mamori/stats``)."""

    hits: int = 0
    misses: int = 0
    stale: int = 0
    upstream_calls: int = 0
    upstream_errors: int = 0


class SecretCache:
    """LRU + TTL cache of rendered secret answers in front of ``fetch``."""

    def __init__(
        self,
        fetch: Callable[[Key], Awaitable[bytes]],
        *,
        size: int,
        ttl: float,
        serve_stale: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._size = size
        self._ttl = ttl
        self._serve_stale = serve_stale
        self._clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._once: SingleFlight[Key, bytes] = SingleFlight()
        self.counters = CacheCounters()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Key, refresh_now: bool = False) -> tuple[bytes, str]:
        """The answer for ``key`` and how it was served (``hit``, ``miss`` or ``stale``)."""
        entry = self._entries.get(key)
        if entry is not None and not refresh_now and self._clock() - entry.fetched_at < self._ttl:
            self._entries.move_to_end(key)
            self.counters.hits += 1
            return entry.body, HIT
        self.counters.misses += 1
        try:
            body = await self._shared_fetch(key)
        except UpstreamError as exc:
            if exc.transient and self._serve_stale:
                stale = self._entries.get(key)
                if stale is not None:
                    self.counters.stale += 1
                    return stale.body, STALE
            if not exc.transient:
                self._entries.pop(key, None)
            raise
        return body, MISS

    async def _shared_fetch(self, key: Key) -> bytes:
        return await self._once.run(key, lambda: self._fetch_and_store(key))

    async def _fetch_and_store(self, key: Key) -> bytes:
        self.counters.upstream_calls += 1
        try:
            body = await self._fetch(key)
        except Exception:
            self.counters.upstream_errors += 1
            raise
        self._store(key, body)
        return body

    def _store(self, key: Key, body: bytes) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = _Entry(body, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every value (at shutdown)."""
        self._entries.clear()
