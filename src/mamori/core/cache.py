"""Bounded in-memory caches that keep the hot path free of store reads.

Everything here is a copy of committed state: writers update the store first, then call
``invalidate_*`` so the next reader reloads. (Distributed mode will deliver the same invalidations
from other nodes through PostgreSQL LISTEN/NOTIFY.)
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A thread-safe LRU map with a size bound."""

    def __init__(self, capacity: int, name: str = "") -> None:
        self._capacity = max(1, capacity)
        # Plain counters, read by the metrics (gateway/metrics.py) under a name: a lookup pays
        # nothing for being measured.
        self.hits = 0
        self.misses = 0
        if name:
            _NAMED[self] = name
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every removal. A load that raced with a removal (read the store before a
        # writer committed, finished after it invalidated) must not cache what it read.
        self._generation = 0

    def get(self, key: K) -> V | None:
        """The cached value, refreshed as most recently used, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def get_or_load(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """The cached value, or ``load(key)`` stored when it is not None."""
        value = self.get(key)
        if value is None:
            generation = self._generation
            value = load(key)
            if value is not None:
                with self._lock:
                    if generation == self._generation:
                        self._store(key, value)
        return value

    def reload(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """``load(key)`` in place of a stale entry: stored unless a removal raced with the load
        (as in ``get_or_load``). Replacing an entry is not a removal, so unlike ``discard`` it
        does not make other keys' loads in flight go uncached."""
        generation = self._generation
        value = load(key)
        with self._lock:
            if generation != self._generation:
                return value
            if value is None:
                self._items.pop(key, None)
            else:
                self._store(key, value)
        return value

    @property
    def generation(self) -> int:
        """Bumped by every removal; pass it to ``put_since`` to store what a load read."""
        return self._generation

    def put_since(self, key: K, value: V, generation: int) -> None:
        """``put``, unless a removal happened since ``generation`` was read (the value may
        then be stale, as in ``get_or_load``)."""
        with self._lock:
            if generation == self._generation:
                self._store(key, value)

    def put(self, key: K, value: V) -> None:
        """Insert or replace, evicting the least recently used entry past the bound."""
        with self._lock:
            self._store(key, value)

    def _store(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key`` if present."""
        with self._lock:
            self._generation += 1
            self._items.pop(key, None)

    def discard_where(self, predicate: Callable[[K, V], bool]) -> None:
        """Forget every entry the predicate selects."""
        with self._lock:
            self._generation += 1
            for key in [k for k, v in self._items.items() if predicate(k, v)]:
                del self._items[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._generation += 1
            self._items.clear()


_NAMED: weakref.WeakKeyDictionary[LruCache[Any, Any], str] = weakref.WeakKeyDictionary()


def named_caches() -> list[tuple[str, LruCache[Any, Any]]]:
    """The caches made with a name, for their hit ratios."""
    return [(name, cache) for cache, name in list(_NAMED.items())]
