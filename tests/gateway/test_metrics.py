"""Requests counted in batches (``Metrics.request``, folded once per event-loop tick) leave the
same ``/metrics`` samples as one ``Counter.inc`` and one ``Histogram.observe`` per request, in
single- and multi-process mode. In process, on the installed prometheus-client: the batching
adds k observations to a histogram child's own bucket values (``_PendingLatency.fold``), and
these tests are what hold that equal to ``observe`` when the library changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.parser import text_string_to_metric_families

from mamori.gateway.metrics import _LATENCY_BUCKETS, Metrics

ACTIONS = frozenset({"Encrypt", "Decrypt"})
# Every bucket, each bound itself (``le`` includes it), past the last bound (+Inf), and zero.
LATENCIES = [0.0, *_LATENCY_BUCKETS, *(b * 0.999 for b in _LATENCY_BUCKETS), 0.0003, 3.0, 60.0]
# (gateway, action, code); a made-up action is counted as Other.
REQUESTS = [
    ("pop", "Encrypt", "Success"),
    ("pop", "Encrypt", "Forbidden.NoPermission"),
    ("pop", "Decrypt", "Success"),
    ("pop", "MadeUpAction", "InvalidAction.NotFound"),
    ("instance", "Encrypt", "Rejected.Throttling"),
]
NAMES = (
    "mamori_requests_total",
    "mamori_throttled_requests_total",
    "mamori_request_duration_seconds_bucket",
    "mamori_request_duration_seconds_count",
    "mamori_request_duration_seconds_sum",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in NAMES
    }


def _workload() -> list[tuple[str, str, str, float]]:
    return [
        (*REQUESTS[i % len(REQUESTS)], LATENCIES[(i * 7) % len(LATENCIES)]) for i in range(1000)
    ]


def _reference(workload: list[tuple[str, str, str, float]]) -> Samples:
    """What one inc and one observe per request show (in this process's memory)."""
    registry = CollectorRegistry()
    requests = Counter("mamori_requests", "", ("gateway", "action", "code"), registry=registry)
    latency = Histogram(
        "mamori_request_duration_seconds",
        "",
        ("gateway", "action"),
        buckets=_LATENCY_BUCKETS,
        registry=registry,
    )
    throttled = Counter("mamori_throttled_requests", "", ("gateway",), registry=registry)
    for gateway, action, code, seconds in workload:
        action = action if action in ACTIONS else "Other"
        requests.labels(gateway, action, code).inc()
        latency.labels(gateway, action).observe(seconds)
        if code == "Rejected.Throttling":
            throttled.labels(gateway).inc()
    return _samples(generate_latest(registry).decode())


def _in_one_tick(metrics: Metrics, workload: list[tuple[str, str, str, float]]) -> Samples:
    """Count the workload within one tick of an event loop, let the loop run the flush that
    the first request scheduled, and read /metrics' text without flushing it again."""

    async def main() -> None:
        for gateway, action, code, seconds in workload:
            metrics.request(gateway, action, code, seconds)
        # Nothing folded yet (the children exist, at zero).
        assert set(_samples(metrics.exposition().decode()).values()) <= {0.0}
        await asyncio.sleep(0)

    asyncio.run(main())
    return _samples(metrics.exposition().decode())


def test_one_tick_of_requests_is_counted_exactly() -> None:
    workload = _workload()
    expected = _reference(workload)
    assert _in_one_tick(Metrics(ACTIONS), workload) == expected
    total = ("mamori_request_duration_seconds_count", (("action", "Encrypt"), ("gateway", "pop")))
    assert expected[total] == 400  # (the reference is what the test thinks it is)


def test_multi_process_mode_counts_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = _workload()
    expected = _reference(workload)
    # As prepare_multiprocess does, undone after the test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    metrics = Metrics(ACTIONS)
    assert metrics.multiprocess
    assert _in_one_tick(metrics, workload) == expected
    assert list(tmp_path.glob("counter_*.db"))  # the samples went through the files


def test_ticks_add_up_and_an_explicit_flush_folds_the_pending_requests() -> None:
    workload = _workload()
    metrics = Metrics(ACTIONS)

    async def main() -> None:
        for start in range(0, len(workload), 100):
            for gateway, action, code, seconds in workload[start : start + 100]:
                metrics.request(gateway, action, code, seconds)
            await asyncio.sleep(0)
        metrics.request("pop", "Encrypt", "Success", 0.002)
        metrics.flush()  # what /metrics and shutdown do, before the tick ends

    asyncio.run(main())
    got = _samples(metrics.exposition().decode())
    expected = _reference([*workload, ("pop", "Encrypt", "Success", 0.002)])
    # Counts exactly; the sums differ only in the order their floats were added.
    assert {k: v for k, v in got.items() if not k[0].endswith("_sum")} == {
        k: v for k, v in expected.items() if not k[0].endswith("_sum")
    }
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value, rel=1e-12)


def test_without_an_event_loop_each_request_is_folded_at_once() -> None:
    metrics = Metrics(ACTIONS)
    metrics.request("pop", "Encrypt", "Success", 0.003)
    got = _samples(metrics.exposition().decode())

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted({"gateway": "pop", "action": "Encrypt", **labels}.items())))]

    assert value("mamori_requests_total", code="Success") == 1
    assert value("mamori_request_duration_seconds_count") == 1
    assert value("mamori_request_duration_seconds_bucket", le="0.0025") == 0
    assert value("mamori_request_duration_seconds_bucket", le="0.005") == 1
    assert value("mamori_request_duration_seconds_sum") == 0.003
