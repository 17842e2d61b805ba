"""Cache invalidations shared by every node on one store.

A service that changes what it caches publishes a topic (``"key"`` and a key id, say): the
handler it registered for that topic runs here at once, and the same message goes to the other
nodes (``mamori.store.notify``: PostgreSQL LISTEN/NOTIFY), whose handlers run when it arrives.
Messages carry ids only, never a secret. On SQLite there is one node and nothing is sent.

A node that lost its listening connection may have missed messages, so when it listens again
every cache is reset.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("mamori.invalidation")

Handler = Callable[[list[str]], None]
Reset = Callable[[], None]
Send = Callable[[str], None]


class Invalidations:
    """Topics, their local handlers, and where to send what is published."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._resets: list[Reset] = []
        self._send: Send | None = None
        self._lock = threading.Lock()

    def register(self, topic: str, handler: Handler, reset: Reset) -> None:
        """Handle ``topic`` here; ``reset`` forgets everything the handler could forget."""
        with self._lock:
            if topic in self._handlers:
                raise ValueError(f"topic {topic} is already registered")
            self._handlers[topic] = handler
            self._resets.append(reset)

    def connect(self, send: Send | None) -> None:
        """Send published messages to the other nodes through ``send`` (None: stop)."""
        self._send = send

    def publish(self, topic: str, *args: str) -> None:
        """Apply a change to this node's caches, then tell the other nodes."""
        self._handlers[topic](list(args))
        send = self._send
        if send is None:
            return
        try:
            send(json.dumps([topic, *args], separators=(",", ":")))
        except Exception as exc:
            # The change is committed and applied here; other nodes miss it until their views
            # expire or they reconnect. The message names ids only, but keep the log terse.
            log.warning(
                "could not tell other nodes that a %s changed (%s)", topic, type(exc).__name__
            )

    def receive(self, payload: str) -> None:
        """Apply a message another node (or this one) sent. Anyone who can connect to the
        database can NOTIFY, so a message that does not fit its handler is dropped, and then
        every cache is reset rather than trusting a half-applied one."""
        try:
            topic, *args = json.loads(payload)
            handler = self._handlers[topic]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed invalidation message")
            return
        try:
            handler([str(a) for a in args])
        except Exception as exc:
            log.warning(
                "an invalidation message for %s failed (%s); resetting", topic, type(exc).__name__
            )
            self.reset()

    def reset(self) -> None:
        """Forget every cached value (after messages may have been missed)."""
        with self._lock:
            resets = list(self._resets)
        for reset in resets:
            reset()
