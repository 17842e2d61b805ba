"""The bounded caches: LRU eviction, and no stale value cached when a writer invalidated
the key while a reader was loading it."""

from __future__ import annotations

from mamori.core.cache import LruCache


def test_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_load_that_raced_with_an_invalidation_is_not_cached() -> None:
    cache: LruCache[str, str] = LruCache(10)

    def load_then_writer_commits(key: str) -> str:
        # The reader saw the old state; a writer commits and invalidates before it returns.
        cache.discard(key)
        return "old state"

    assert cache.get_or_load("k", load_then_writer_commits) == "old state"
    assert cache.get("k") is None
    assert cache.get_or_load("k", lambda _k: "new state") == "new state"
    assert cache.get("k") == "new state"


def test_reload_replaces_a_stale_entry_without_hurting_other_loads() -> None:
    cache: LruCache[str, str] = LruCache(10)
    cache.put("stale", "v1")

    def load_other_while_reloading(key: str) -> str:
        # Another reader's load is in flight while "stale" is replaced: it must still cache.
        assert cache.reload("stale", lambda _k: "v2") == "v2"
        return "other"

    assert cache.get_or_load("other", load_other_while_reloading) == "other"
    assert (cache.get("stale"), cache.get("other")) == ("v2", "other")

    def load_then_writer_commits(key: str) -> str:
        cache.discard(key)
        return "old state"

    assert cache.reload("stale", load_then_writer_commits) == "old state"
    assert cache.get("stale") is None
    assert cache.reload("stale", lambda _k: None) is None
