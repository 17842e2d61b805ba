"""The replay guard: an AccessKey may use a signature nonce once within the freshness window,
across every worker of every node.

A request is fresh while its signed timestamp is within ±15 minutes of the server clock, so its
(AccessKeyId, nonce) pair is remembered until ``timestamp + 15 min`` (plus a minute for clock
skew between nodes): later, a replay fails the freshness check instead.

Two layers, checked in this order after the signature is verified (so unauthenticated traffic
never fills them):

1. the node's table in shared memory (``mamori.node.nonce_table``), which every worker of the
   node checks and fills under one lock: a replay to a sibling worker is caught here, for a
   few microseconds;
2. on PostgreSQL, the store's ``nonces`` table (``mamori.store.nonce_log``), batched per
   event-loop turn: a replay to another node is caught here.

Both fail closed: a full table or an unreachable store refuses the request with
``ServiceUnavailableTemporary``; nothing is forgotten early.

Nor at a restart. A clean stop saves the node's table and the next start loads it
(``NonceTable.save``/``load``). A node that died without saving starts with an empty table;
without the store's table (SQLite) that is its only memory, so such a node refuses every
request signed before its table existed (``horizon``) as ``InvalidTimeStamp.Expired``, and its
workers start serving only once that second has passed (``serve``), so that a request signed
after the start is never refused for it. The SDKs sign every attempt anew, so only a request
signed before the restart and sent after it (a replay, or a client whose clock is behind by
more than the restart took) meets this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from mamori.api.errors import ApiError
from mamori.node.nonce_table import NonceTable, TableFull
from mamori.store.nonce_log import NonceLog, NonceLogUnavailable

FRESHNESS: Final = 900.0
# Other nodes judge freshness by their own clocks: keep a pair this much longer.
SKEW: Final = 60.0


def node_table(lock_path: Path, capacity: int) -> NonceTable:
    """The node's table for ``capacity`` nonces remembered at once."""
    return NonceTable(lock_path, capacity, window=FRESHNESS, skew=SKEW)


class ReplayGuard:
    """The node's table, and the store's log when nodes share a store."""

    def __init__(self, table: NonceTable, log: NonceLog | None = None) -> None:
        self._table = table
        self.log = log
        # The store's table outlives a node's restart; the node's own only a clean one, and
        # then it keeps the horizon of the table it was loaded from (``NonceTable.load``).
        self.horizon: int | None = table.since if log is None else None

    def remember_here(self, access_key_id: str, nonce: str, timestamp: float, now: float) -> None:
        """Refuse a pair this node has seen, or signed before it could see it; remember it
        otherwise."""
        if self.horizon is not None and timestamp < self.horizon:
            raise ApiError("InvalidTimeStamp.Expired")
        try:
            fresh = self._table.check_and_remember(access_key_id, nonce, timestamp, now)
        except TableFull:
            raise ApiError("ServiceUnavailableTemporary") from None
        if not fresh:
            raise ApiError("SignatureNonceUsed")

    async def remember_everywhere(
        self, access_key_id: str, nonce: str, timestamp: float, now: float
    ) -> None:
        """Refuse a pair another node has seen; record it for them otherwise."""
        if self.log is None:
            return
        try:
            fresh = await self.log.remember(
                access_key_id, nonce, int(timestamp + FRESHNESS + SKEW) + 1, int(now)
            )
        except NonceLogUnavailable:
            raise ApiError("ServiceUnavailableTemporary") from None
        if not fresh:
            raise ApiError("SignatureNonceUsed")
