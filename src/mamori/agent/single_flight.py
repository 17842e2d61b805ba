"""At most one upstream call per key at a time: concurrent askers share its result, so a
burst of misses for one secret or one data key costs the server one call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Runs ``make`` for a key unless a run for that key is already under way."""

    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        """``make()``'s result, or the result of the run already under way for ``key``."""
        pending = self._pending.get(key)
        if pending is not None:
            # Shielded: one waiter giving up must not cancel the call the others wait for.
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await make()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[key]
        future.set_result(value)
        return value
