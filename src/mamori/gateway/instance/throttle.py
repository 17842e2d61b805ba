"""Per-instance QPS: each KMS instance serves at most its spec's requests per second; past it a
request is refused at once with ``Rejected.Throttling`` (never queued into a timeout).

The limiter is a token bucket per instance: ``rate`` tokens a second, at most ``burst`` of them
saved (a tenth of a second's worth, so a one-second window never serves more than 110% of the
spec). A request spends its cost in tokens (``costs.py``: 1 for an Encrypt, more for what
takes more CPU, such as RSA key pairs). A refused request takes no token, so a client retrying
(the SDKs retry this code after a second) gets served as soon as the budget refills.

Sharing (DESIGN §6): the budget belongs to the instance, not to a process.

* Worker processes of one node share one bucket per instance: ``SharedBudgets`` keeps the
  buckets in memory mapped before the workers are forked, under a lock between processes, with
  the same arithmetic as ``LocalBudgets`` (one process: tests, tools).
* Several nodes on one PostgreSQL: each node enforces ``qps × share`` where ``share`` is the
  node's fraction (``1 / nodes`` behind a balancer that spreads evenly). Coordinating one global
  bucket per request would put a database round trip on the hot path (DESIGN §9: 63% of the
  throughput), so the nodes split the budget instead; docs/dedicated-gateway.md says how to set it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from mamori.node.shared import ProcessLock, shared_memory

BURST_SECONDS: Final = 0.1


def _spend(
    tokens: float, stamp: float, rate: float, now: float, cost: int = 1
) -> tuple[float, bool]:
    """Refill ``tokens`` by the time since ``stamp`` at ``rate`` (at most a burst), then, if a
    token is there, spend ``cost`` (an expensive call may leave a debt the refill pays back):
    (tokens left, whether the request may go)."""
    burst = max(1.0, rate * BURST_SECONDS)
    tokens = min(burst, tokens + (now - stamp) * rate)
    if tokens < 1.0:
        return tokens, False
    return tokens - cost, True


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
        bucket.tokens, allowed = _spend(bucket.tokens, bucket.stamp, rate, now, cost)
        bucket.stamp = now
        return allowed


# One bucket: instance fingerprint (uint64, 0 = free), tokens, last refill (float64 each).
_SLOT: Final = struct.Struct("<Qdd")


class SharedBudgets:
    """Token buckets shared by the worker processes of a node, one per instance: an
    open-addressing table of ``slots`` buckets in shared memory (``CLOCK_MONOTONIC`` is one
    clock for every process). An instance that finds no slot is refused (fail closed); the
    table is sized far beyond the instances a deployment holds."""

    def __init__(
        self,
        lock_path: Path,
        share: float = 1.0,
        slots: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._share = share
        self._clock = clock
        self._slots = slots
        self._memory = shared_memory(slots * _SLOT.size)
        self._lock = ProcessLock(lock_path)

    def take(self, instance_id: str, qps: int, cost: int = 1) -> bool:
        """Refill by the time elapsed, then spend ``cost`` if a token is there."""
        rate = qps * self._share
        fingerprint = (hash(instance_id) & 0xFFFF_FFFF_FFFF_FFFF) or 1
        memory = self._memory
        with self._lock.held():
            now = self._clock()
            index = fingerprint % self._slots
            for _ in range(self._slots):
                offset = index * _SLOT.size
                owner, tokens, stamp = _SLOT.unpack_from(memory, offset)
                if owner in (0, fingerprint):
                    break
                index = (index + 1) % self._slots
            else:
                return False
            if owner != fingerprint:  # a new bucket starts full
                tokens, stamp = max(1.0, rate * BURST_SECONDS), now
            tokens, allowed = _spend(tokens, stamp, rate, now, cost)
            _SLOT.pack_into(memory, offset, fingerprint, tokens, now)
            return allowed
