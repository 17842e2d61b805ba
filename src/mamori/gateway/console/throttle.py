"""Failed console sign-ins, limited per source address and per AccessKey id.

Each source (an IPv4 address, an IPv6 /64, an AccessKey id as typed) may fail ``limit`` times
in a ``window`` of seconds that starts at its first failure; past that, every sign-in from the
address, or with the id, is refused unchecked (429, ``Retry-After``) until the window ends.
Successful sign-ins count nothing and reset nothing (a valid AccessKey of one's own must not
buy more guesses). Memory is bounded: at most ``max_entries`` sources are remembered, the
oldest windows forgotten first. Nothing here knows about HTTP.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

ADDRESS_LIMIT: Final = 10
ACCESS_KEY_LIMIT: Final = 20
WINDOW_SECONDS: Final = 300.0
MAX_ENTRIES: Final = 10_000


@dataclass(frozen=True, slots=True)
class Limited:
    """Why a sign-in is refused unchecked, and for how many more seconds."""

    by_address: bool
    retry_after: int


def _source(address: str) -> str:
    """An IPv6 address stands for its /64 (one host usually holds all of it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class FailedSignIns:
    """Failure counts in fixed windows, for addresses and for AccessKey ids."""

    def __init__(
        self,
        *,
        address_limit: int = ADDRESS_LIMIT,
        access_key_limit: int = ACCESS_KEY_LIMIT,
        window_seconds: float = WINDOW_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"ip": address_limit, "ak": access_key_limit}
        self._window = window_seconds
        self._max = max_entries
        self._clock = clock
        # (kind, source) -> [window start, failures]; oldest windows first.
        self._counts: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def limited(self, address: str, access_key_id: str) -> Limited | None:
        """Whether a sign-in from ``address`` with ``access_key_id`` is refused unchecked."""
        now = self._clock()
        with self._lock:
            for kind, source in (("ip", _source(address)), ("ak", access_key_id)):
                entry = self._live(kind, source, now)
                if entry is not None and entry[1] >= self._limits[kind]:
                    wait = max(1, math.ceil(entry[0] + self._window - now))
                    return Limited(by_address=kind == "ip", retry_after=wait)
        return None

    def failed(self, address: str, access_key_id: str) -> None:
        """Count one failed sign-in against the address and the id."""
        now = self._clock()
        with self._lock:
            for key in (("ip", _source(address)), ("ak", access_key_id)):
                entry = self._live(*key, now)
                if entry is None:
                    while len(self._counts) >= self._max:
                        self._counts.popitem(last=False)
                    self._counts[key] = [now, 1.0]
                else:
                    entry[1] += 1

    def __len__(self) -> int:
        return len(self._counts)

    def _live(self, kind: str, source: str, now: float) -> list[float] | None:
        entry = self._counts.get((kind, source))
        if entry is not None and now - entry[0] >= self._window:
            del self._counts[(kind, source)]
            return None
        return entry
