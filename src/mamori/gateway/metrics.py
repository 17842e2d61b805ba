"""The node's Prometheus metrics (docs/operations.md, "Metrics"), with ``prometheus-client``.

With several worker processes, every worker writes its samples to memory-mapped files in
``<data-dir>/run/metrics/`` (the library's multi-process mode; the directory is emptied when the
node starts) and whichever worker answers ``GET /metrics`` adds them up. With one worker the
samples stay in memory.

Per request the cost is one counter and one histogram child, both looked up in a dict keyed by
(gateway, action, code) rather than through ``labels()`` every time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Final

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
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._seen: dict[str, tuple[int, int]] = {}

    def request(self, gateway: str, action: str, code: str, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (gateway, action, code)
        children = self._children.get(key)
        if children is None:
            if action not in self._actions:
                action = "Other"
            children = (
                self._requests.labels(gateway, action, code),
                self._latency.labels(gateway, action),
            )
            if action != "Other":
                self._children[key] = children
            if code == "Rejected.Throttling":
                self._throttled.labels(gateway)
        children[0].inc()
        children[1].observe(seconds)
        if code == "Rejected.Throttling":
            self._throttled.labels(gateway).inc()

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
        """The text format of every worker's metrics."""
        return generate_latest(self._registry)
