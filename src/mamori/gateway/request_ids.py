"""Request ids in Alibaba's UUID shape, cheap enough for every request of either gateway."""

from __future__ import annotations

import itertools
import os


class RequestIds:
    """UUID-shaped request ids (Alibaba's form) from a random per-process prefix and a counter:
    unique without paying for ``uuid4`` on every request.

    The generators are made at import, before a node forks its workers; a forked child would
    otherwise carry on the parent's prefix and counter and hand out the very ids its siblings
    do, so every child draws a prefix of its own."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        prefix = os.urandom(10).hex().upper()
        self._head = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def next(self) -> str:
        """The next id."""
        return f"{self._head}{next(self._counter) & 0xFFFFFFFFFFFF:012X}"
