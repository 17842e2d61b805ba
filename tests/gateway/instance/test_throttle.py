"""The per-instance token bucket (gateway/instance/throttle.py) against a clock the test moves."""

from __future__ import annotations

import pytest

from mamori.gateway.instance.throttle import LocalBudgets


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _served(budgets: LocalBudgets, clock: _Clock, qps: int, offered: int, seconds: float) -> int:
    served = 0
    step = seconds / offered
    for _ in range(offered):
        clock.now += step
        served += budgets.take("kst-a", qps)
    return served


@pytest.mark.parametrize("qps", [1000, 2000, 4000])
def test_served_rate_stays_within_ten_percent_of_the_spec(qps: int) -> None:
    clock = _Clock()
    budgets = LocalBudgets(clock=clock)
    served = _served(budgets, clock, qps, offered=qps * 5 * 3, seconds=5)  # 3x overload
    assert qps * 5 * 0.9 <= served <= qps * 5 * 1.1


def test_under_the_spec_everything_is_served_and_instances_are_separate() -> None:
    clock = _Clock()
    budgets = LocalBudgets(clock=clock)
    assert _served(budgets, clock, 1000, offered=500, seconds=1) == 500
    # Exhaust kst-a's burst; kst-b keeps its own budget.
    while budgets.take("kst-a", 1000):
        pass
    assert budgets.take("kst-b", 1000)
    assert not budgets.take("kst-a", 1000)
    clock.now += 0.002  # two requests' worth refills
    assert budgets.take("kst-a", 1000)


def test_a_node_share_divides_the_rate() -> None:
    clock = _Clock()
    budgets = LocalBudgets(share=0.5, clock=clock)
    served = _served(budgets, clock, 1000, offered=6000, seconds=4)
    assert 500 * 4 * 0.9 <= served <= 500 * 4 * 1.1
    with pytest.raises(ValueError):
        LocalBudgets(share=0)


def test_a_costly_request_spends_its_cost_and_leaves_the_bucket_in_debt() -> None:
    clock = _Clock()
    budgets = LocalBudgets(clock=clock)
    assert budgets.take("kst-a", 1000, cost=1700)  # a burst of 100 tokens pays it in debt
    assert not budgets.take("kst-a", 1000)
    clock.now += 1.6  # 1,600 tokens refilled: still 1 short of the debt's end
    assert not budgets.take("kst-a", 1000)
    clock.now += 0.002
    assert budgets.take("kst-a", 1000)


def test_pair_slots_bound_concurrent_generations_per_instance() -> None:
    from mamori.gateway.instance.costs import PairSlots, cost_of

    slots = PairSlots(limit=1)
    assert slots.acquire("kst-a")
    assert not slots.acquire("kst-a")
    assert slots.acquire("kst-b")
    slots.release("kst-a")
    assert slots.acquire("kst-a")
    assert cost_of("GenerateDataKeyPair", "Aliyun_AES_256", "RSA_4096") == 1700
    assert cost_of("Sign", "RSA_4096", None) == 7
    assert cost_of("Verify", "RSA_4096", None) == 1
    assert cost_of("Encrypt", "Aliyun_AES_256", None) == 1
