"""Memory shared by a node's worker processes, and the lock that guards it.

The memory is an anonymous ``MAP_SHARED`` mapping made by the supervisor before it forks: every
worker (a restarted one too) inherits the same pages, and they vanish with the node. Nothing in
it is a secret: nonce fingerprints, topic names and ids, token counts.

The lock is ``flock`` on a file that each process opens for itself (an open file description
shared across ``fork`` would be one lock holder, not several). The kernel drops it when its
holder dies, so a worker killed inside a critical section cannot wedge the others; the section
it left half-written holds only data whose corruption fails closed (see each user).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ProcessLock:
    """A lock between processes (``flock``) and between the threads of each (a mutex)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self._threads = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        # A forked child needs its own open file description. Told so at the fork, rather
        # than comparing os.getpid() on every acquire: that is a system call per request.
        alive = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_descriptor(alive()))

    def _descriptor(self) -> int:
        if self._fd < 0:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block."""
        with self._threads:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def acquire(self) -> int:
        """Take the lock (for hot paths that avoid a context manager); returns the descriptor
        to hand to ``release``."""
        self._threads.acquire()
        fd = self._descriptor()
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def release(self, fd: int) -> None:
        """Give back what ``acquire`` took."""
        fcntl.flock(fd, fcntl.LOCK_UN)
        self._threads.release()


def _forget_descriptor(lock: ProcessLock | None) -> None:
    if lock is not None and lock._fd >= 0:  # the lock's own fork hook
        # The parent's copy: closing it releases nothing while the parent holds it open.
        os.close(lock._fd)
        lock._fd = -1


def shared_memory(size: int) -> mmap.mmap:
    """``size`` zeroed bytes shared with every process forked after this call. Pages cost
    memory only once written."""
    return mmap.mmap(-1, max(size, mmap.PAGESIZE), flags=mmap.MAP_SHARED)
