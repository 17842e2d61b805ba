"""The node's Prometheus metrics (docs/operations.md, "Metrics"), with ``prometheus-client``.

With several worker processes, every worker writes its samples to memory-mapped files in
``<data-dir>/run/metrics/`` (the library's multi-process mode; the directory is emptied when the
node starts) and whichever worker answers ``GET /metrics`` adds them up. With one worker the
samples stay in memory.

A request is counted in plain Python (``Metrics.request``: one dict lookup, a few integer and
float additions) and its samples are folded into the Prometheus values in batches, once per
event-loop tick (``flush``, scheduled with ``call_soon`` by the tick's first request), before
``/metrics`` is rendered, and at shutdown. Every update of a Prometheus value takes a lock and,
in multi-process mode, checks the pid and writes the memory-mapped file; per request that was
three updates (counter, bucket, sum), ~4% of a worker's CPU under load. Now it is three per
series and tick, however many requests the tick answered.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from bisect import bisect_left
from collections.abc import Iterable
from itertools import compress
from pathlib import Path
from typing import Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from mamori.core.cache import LruCache

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
_FSYNC_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


class _Value(Protocol):
    """One of prometheus-client's values (``MutexValue``, or ``MmapedValue`` across workers)."""

    def inc(self, amount: float) -> None: ...


def prepare_multiprocess(directory: Path) -> None:
    """Empty ``directory`` and put this process (and the workers it forks) in multi-process
    mode: to be called once per node start, before any metric exists."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def worker_exited(pid: int) -> None:
    """Retire an exited worker's live gauges (its counters stay in the node's totals)."""
    mark_process_dead(pid)  # type: ignore[no-untyped-call]


class _PendingLatency:
    """One ``mamori_request_duration_seconds`` child and the observations counted for it
    since the last flush: how many fell in each bucket, and their sum.

    prometheus-client has no public call that adds k observations at once (``observe`` takes
    one), so ``fold`` adds them to the child's own values: a histogram child keeps one value
    per bucket, not cumulative (``observe`` increments only the first bucket whose upper bound
    holds the amount; the cumulative ``le`` samples and ``_count`` are summed when rendered),
    and one value for the sum. That is what ``observe`` would have left after the same
    observations, in single- and multi-process mode alike; ``__init__`` checks that the child
    still has that shape, and tests/gateway/test_metrics.py holds ``fold`` equal to
    ``observe`` on the installed library.
    """

    __slots__ = ("_bucket_values", "_sum_value", "bounds", "buckets", "seconds")

    def __init__(self, child: Histogram) -> None:
        bounds = getattr(child, "_upper_bounds", None)
        bucket_values = getattr(child, "_buckets", None)
        sum_value = getattr(child, "_sum", None)
        if (
            not isinstance(bounds, list)
            or not isinstance(bucket_values, list)
            or len(bucket_values) != len(bounds)
            or bounds[-1] != float("inf")
            or not all(hasattr(value, "inc") for value in [*bucket_values, sum_value])
        ):
            raise RuntimeError(
                "prometheus-client's Histogram no longer keeps _upper_bounds, _buckets and "
                "_sum as mamori.gateway.metrics expects: update _PendingLatency"
            )
        self.bounds: tuple[float, ...] = tuple(bounds)
        self.buckets = [0] * len(bounds)
        self.seconds = 0.0
        self._bucket_values: list[_Value] = bucket_values
        self._sum_value: _Value = sum_value  # type: ignore[assignment]  # checked above

    def fold(self) -> None:
        """Add the pending observations to the child (nothing when there are none, e.g.
        another code of the same action already folded them this flush)."""
        buckets = self.buckets
        folded = False
        # compress: the indices of the non-zero buckets, found in C (a request's latencies
        # mostly fall in one or two of the thirteen).
        for index in compress(range(len(buckets)), buckets):
            self._bucket_values[index].inc(buckets[index])
            folded = True
        if folded:
            self.buckets = [0] * len(buckets)
            self._sum_value.inc(self.seconds)
            self.seconds = 0.0


class _Series:
    """One (gateway, action, code): its counter child, its action's latency, the throttle
    counter when the code is Rejected.Throttling, and the requests counted since the last
    flush."""

    __slots__ = ("count", "counter", "latency", "throttled")

    def __init__(
        self, counter: Counter, latency: _PendingLatency, throttled: Counter | None
    ) -> None:
        self.counter = counter
        self.latency = latency
        self.throttled = throttled
        self.count = 0


class Metrics:
    """Every metric a worker updates, registered in its own registry."""

    def __init__(self, actions: frozenset[str] = frozenset()) -> None:
        # Only these names become label values: an action a request merely names (unknown,
        # or made up by an attacker) is counted as "Other", so labels stay bounded.
        self._actions = actions
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self._registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self._registry
        if self.multiprocess:
            MultiProcessCollector(self._registry)  # type: ignore[no-untyped-call]
        self._requests = Counter(
            "mamori_requests",
            "Requests answered, by gateway, action and result code",
            ("gateway", "action", "code"),
            registry=registry,
        )
        self._latency = Histogram(
            "mamori_request_duration_seconds",
            "Time from the request's arrival to its durable audit record, by action",
            ("gateway", "action"),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._throttled = Counter(
            "mamori_throttled_requests",
            "Requests refused by a QPS budget (Rejected.Throttling)",
            ("gateway",),
            registry=registry,
        )
        self._cache_hits = Counter(
            "mamori_cache_hits", "Lookups a cache answered", ("cache",), registry=registry
        )
        self._cache_misses = Counter(
            "mamori_cache_misses", "Lookups a cache did not answer", ("cache",), registry=registry
        )
        self._audit_fsync = Histogram(
            "mamori_audit_fsync_seconds",
            "Duration of each audit group commit's fdatasync",
            buckets=_FSYNC_BUCKETS,
            registry=registry,
        )
        self._audit_queue = Gauge(
            "mamori_audit_queue_depth",
            "Audit records in the batch being written, at its last flush",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._audit_up = Gauge(
            "mamori_audit_available",
            "1 while the audit log accepts records, 0 once it failed (requests are refused)",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._job_runs = Counter(
            "mamori_background_job_runs", "Background job passes run", registry=registry
        )
        self._job_failures = Counter(
            "mamori_background_job_failures", "Background job passes that failed", registry=registry
        )
        # (gateway, action, code) -> its children and what it counted since the last flush.
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._latencies: dict[tuple[str, str], _PendingLatency] = {}
        # The series with requests not yet in the Prometheus values; non-empty only while a
        # flush is scheduled on the event loop.
        self._dirty: list[_Series] = []
        self._seen: dict[str, tuple[int, int]] = {}

    def request(self, gateway: str, action: str, code: str, seconds: float) -> None:
        """Count one answered request and its latency; the Prometheus values follow within
        this event-loop tick (``flush``)."""
        series = self._series.get((gateway, action, code))
        if series is None:
            series = self._new_series(gateway, action, code)
        series.count += 1
        latency = series.latency
        # The first bucket whose bound holds the latency: what Histogram.observe picks.
        latency.buckets[bisect_left(latency.bounds, seconds)] += 1
        latency.seconds += seconds
        if series.count == 1:
            self._dirty.append(series)
            if len(self._dirty) == 1:
                self._schedule_flush()

    def flush(self) -> None:
        """Fold the requests counted since the last flush into the Prometheus values. Call it
        on the event loop's thread (``request`` runs there), never alongside it."""
        dirty, self._dirty = self._dirty, []
        for series in dirty:
            count, series.count = series.count, 0
            series.counter.inc(count)
            if series.throttled is not None:
                series.throttled.inc(count)
            series.latency.fold()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop here: nothing would run a flush later.
            self.flush()
            return
        loop.call_soon(self.flush)

    def _new_series(self, gateway: str, action: str, code: str) -> _Series:
        """The series of a (gateway, action, code) not counted before. Only actions Mamori
        serves are remembered under their own name: any other is counted as "Other", and the
        name a request made up is not kept (it would grow the dict without bound)."""
        if action not in self._actions:
            action = "Other"
        key = (gateway, action, code)
        series = self._series.get(key)
        if series is None:
            latency = self._latencies.get((gateway, action))
            if latency is None:
                latency = _PendingLatency(self._latency.labels(gateway, action))
                self._latencies[(gateway, action)] = latency
            throttled = None
            if code == "Rejected.Throttling":
                throttled = self._throttled.labels(gateway)
            series = _Series(self._requests.labels(gateway, action, code), latency, throttled)
            self._series[key] = series
        return series

    def audit_synced(self, seconds: float, batch: int) -> None:
        """One group commit: its fsync time and how many records it carried."""
        self._audit_fsync.observe(seconds)
        self._audit_queue.set(batch)

    def audit_available(self, up: bool) -> None:
        """Whether the audit log accepts records."""
        self._audit_up.set(1 if up else 0)

    def job_pass(self, failed: bool) -> None:
        """One pass of the background jobs."""
        self._job_runs.inc()
        if failed:
            self._job_failures.inc()

    def sync_caches(self, caches: Iterable[tuple[str, LruCache[object, object]]]) -> None:
        """Add what the named caches counted since the last call (their counters are plain
        integers, so a cache lookup pays nothing for being measured)."""
        for name, cache in caches:
            hits, misses = cache.hits, cache.misses
            seen_hits, seen_misses = self._seen.get(name, (0, 0))
            if hits > seen_hits:
                self._cache_hits.labels(name).inc(hits - seen_hits)
            if misses > seen_misses:
                self._cache_misses.labels(name).inc(misses - seen_misses)
            self._seen[name] = (hits, misses)

    def exposition(self) -> bytes:
        """The text format of every worker's metrics: this one's as of its last ``flush``
        (call that first, on the event loop's thread; this may then run on another)."""
        return generate_latest(self._registry)
