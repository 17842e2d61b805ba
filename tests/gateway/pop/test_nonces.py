"""The replay guard: once per AccessKey and nonce within the window, in bounded memory."""

from __future__ import annotations

import pytest

from mamori.api.errors import ApiError
from mamori.gateway.pop.nonces import NonceCache

T0 = 1_735_787_045.0  # 2025-01-02T03:04:05Z
WINDOW = 1800.0


def test_replay_is_refused() -> None:
    cache = NonceCache()
    assert cache.check_and_remember("AK1", "n1", T0)
    assert not cache.check_and_remember("AK1", "n1", T0 + 1)
    assert len(cache) == 1


def test_nonce_is_per_access_key() -> None:
    cache = NonceCache()
    assert cache.check_and_remember("AK1", "n1", T0)
    assert cache.check_and_remember("AK2", "n1", T0)
    assert cache.check_and_remember("AK1", "n2", T0)


@pytest.mark.parametrize("offset", [0.0, 0.5, 224.9])
def test_nonce_is_remembered_for_the_whole_window(offset: float) -> None:
    cache = NonceCache(window_seconds=WINDOW, buckets=8)
    assert cache.check_and_remember("AK", "n", T0 + offset)
    assert not cache.check_and_remember("AK", "n", T0 + offset + WINDOW - 0.001)


def test_nonce_is_forgotten_after_window_plus_one_bucket() -> None:
    cache = NonceCache(window_seconds=WINDOW, buckets=8)
    assert cache.check_and_remember("AK", "n", T0)
    assert cache.check_and_remember("AK", "other", T0 + WINDOW + WINDOW / 8)
    assert len(cache) == 1  # the old bucket went in one step
    assert cache.check_and_remember("AK", "n", T0 + WINDOW + WINDOW / 8)


def test_clock_stepping_back_still_catches_replays() -> None:
    cache = NonceCache(window_seconds=WINDOW)
    assert cache.check_and_remember("AK", "a", T0 + 1000)
    assert cache.check_and_remember("AK", "b", T0)
    assert not cache.check_and_remember("AK", "b", T0 + 1000)
    assert not cache.check_and_remember("AK", "a", T0)


def test_memory_is_bounded_and_full_cache_fails_closed() -> None:
    cache = NonceCache(window_seconds=WINDOW, max_entries=3)
    for n in range(3):
        assert cache.check_and_remember("AK", str(n), T0)
    with pytest.raises(ApiError) as info:
        cache.check_and_remember("AK", "3", T0)
    assert info.value.code == "ServiceUnavailableTemporary"
    assert not cache.check_and_remember("AK", "0", T0)  # replays are still told apart
    assert cache.check_and_remember("AK", "3", T0 + 2 * WINDOW)  # expiry makes room
    assert len(cache) == 1


def test_steady_traffic_stays_within_window_of_entries() -> None:
    cache = NonceCache(window_seconds=WINDOW, buckets=8)
    for second in range(4 * int(WINDOW)):
        assert cache.check_and_remember("AK", f"n{second}", T0 + second)
        assert len(cache) <= WINDOW + WINDOW / 8 + 1


@pytest.mark.parametrize(
    "kwargs", [{"window_seconds": 0}, {"max_entries": 0}, {"buckets": 0}, {"window_seconds": -1}]
)
def test_bad_configuration(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        NonceCache(**kwargs)
