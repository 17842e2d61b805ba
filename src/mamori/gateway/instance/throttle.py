"""Per-instance QPS: each KMS instance serves at most its spec's requests per second; past it a
request is refused at once with ``Rejected.Throttling`` (never queued into a timeout).

The limiter is a token bucket per instance: ``rate`` tokens a second, at most ``burst`` of them
saved (a tenth of a second's worth, so a one-second window never serves more than 110% of the
spec). A request spends its cost in tokens (``costs.py``: 1 for an Encrypt, more for what
takes more CPU, such as RSA key pairs). A refused request takes no token, so a client retrying
(the SDKs retry this code after a second) gets served as soon as the budget refills.

Sharing (DESIGN §6): the budget belongs to the instance, not to a process.

* Worker processes of one node must share one bucket per instance. ``Budget`` is the seam: this
  module's ``LocalBudgets`` keeps buckets in process memory (one process per node today); the
  worker-process issue replaces it with buckets in shared memory (``multiprocessing.shared_memory``
  holding (tokens, last refill) per instance under a lock), with the same arithmetic.
* Several nodes on one PostgreSQL: each node enforces ``qps × share`` where ``share`` is the
  node's fraction (``1 / nodes`` behind a balancer that spreads evenly). Coordinating one global
  bucket per request would put a database round trip on the hot path (DESIGN §9: 63% of the
  throughput), so the nodes split the budget instead; docs/dedicated-gateway.md says how to set it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol

BURST_SECONDS: Final = 0.1


class Budget(Protocol):
    """Takes a request's cost from an instance's budget."""

    def take(self, instance_id: str, qps: int, cost: int = 1) -> bool:
        """True if the instance may serve one more request costing ``cost`` (in Encrypts,
        ``costs.py``) now at ``qps``; False to refuse."""
        ...


class _Bucket:
    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate * BURST_SECONDS)
        self.stamp = now


class LocalBudgets:
    """Token buckets in this process, one per instance. Called from the event loop only (one
    thread), so it takes no lock."""

    def __init__(self, share: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._share = share
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, instance_id: str, qps: int, cost: int = 1) -> bool:
        """Refill by the time elapsed; then, if there is a token, spend ``cost`` of them. A
        cost above the tokens saved (an RSA key pair can cost more than a tenth of a second's
        budget) leaves the bucket in debt: the instance serves nothing more until the refill
        has paid it, so over any second it serves at most its spec plus the burst plus one
        request's cost."""
        now = self._clock()
        rate = qps * self._share
        bucket = self._buckets.get(instance_id)
        if bucket is None:
            bucket = self._buckets[instance_id] = _Bucket(rate, now)
        elif bucket.rate != rate:  # the spec changed: start from the new rate
            bucket.rate = rate
        burst = max(1.0, rate * BURST_SECONDS)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= cost
        return True
