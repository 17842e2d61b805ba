"""Cache invalidations shared by every node on one store.

A service that changes what it caches publishes a topic (``"key"`` and a key id, say): the
handler it registered for that topic runs here at once, and the same message goes to the other
nodes (``mamori.store.notify``: PostgreSQL LISTEN/NOTIFY), whose handlers run when it arrives.
Messages carry ids only, never a secret. On SQLite there is one node and nothing is sent.

The worker processes of one node are peers the same way, on either store: a message also goes
to them (``Peers``: a ring in shared memory), and each worker applies its siblings' messages
at the start of every request (``poll``), before reading any cache, so a change made through
one worker is seen by the others on their next request.

A node that lost its listening connection may have missed messages, so when it listens again
every cache is reset.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("mamori.invalidation")

Handler = Callable[[list[str]], None]
Reset = Callable[[], None]
Send = Callable[[str], None]


class Peers(Protocol):
    """The other worker processes of this node."""

    def publish(self, payload: str) -> None:
        """Hand a message to every other worker."""
        ...

    def poll(self) -> list[str] | None:
        """The other workers' messages since the last poll; None: reset every cache."""
        ...


class Invalidations:
    """Topics, their local handlers, and where to send what is published."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._resets: list[Reset] = []
        self._send: Send | None = None
        self._peers: Peers | None = None
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

    def share_with(self, peers: Peers | None) -> None:
        """Exchange messages with this node's other workers through ``peers`` (None: stop)."""
        self._peers = peers

    def poll(self) -> None:
        """Apply what the other workers of this node published since the last call."""
        peers = self._peers
        if peers is None:
            return
        messages = peers.poll()
        if messages is None:
            self.reset()
            return
        for payload in messages:
            self.receive(payload)

    def publish(self, topic: str, *args: str) -> None:
        """Apply a change to this node's caches, then tell its other workers and the other
        nodes."""
        self._handlers[topic](list(args))
        send, peers = self._send, self._peers
        if send is None and peers is None:
            return
        payload = json.dumps([topic, *args], separators=(",", ":"))
        if peers is not None:
            # Shared memory under a lock: cannot fail short of a bug, and must not be skipped.
            peers.publish(payload)
        if send is None:
            return
        try:
            send(payload)
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
