"""The supervisor: forks a node's worker processes, restarts one that dies, and stops them all
on SIGTERM or SIGINT.

Everything the workers share (listening sockets, shared memory) is made before the first fork,
so a restarted worker, forked from the supervisor again, inherits the same. The supervisor
itself serves nothing and holds no store connection: it only waits for its children.

* A worker that exits while the node is not stopping is restarted (after ``RESTART_DELAY`` if it
  lived under ``EARLY_EXIT`` seconds, so a worker that cannot start does not spin); the others
  keep serving meanwhile. Only that worker's open connections are lost.
* SIGTERM or SIGINT: every worker gets SIGTERM and finishes what it is serving (uvicorn's
  graceful shutdown); the supervisor exits when the last one has, with the first non-zero exit
  status among them.
* The supervisor killed (SIGKILL, the OOM killer): every worker gets SIGTERM from the kernel
  (Linux's parent-death signal) and stops the same way. An orphan would go on serving with
  nobody to restart it, keep the node's ports so that no new node can start, and never have
  its nonce table saved.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

log = logging.getLogger("mamori.workers")

EARLY_EXIT: Final = 2.0
RESTART_DELAY: Final = 1.0
# A worker that cannot even start this many times in a row stops the node.
MAX_EARLY_EXITS: Final = 5


# prctl(2) option: the signal this process gets when the thread that forked it exits.
_PR_SET_PDEATHSIG: Final = 1
_LIBC: Final = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _stop_with(supervisor: int) -> None:
    """In a worker: be sent SIGTERM when the supervisor dies, however it dies."""
    if _LIBC is not None and _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("worker %d: no parent-death signal (errno %d)", os.getpid(), ctypes.get_errno())
    if os.getppid() != supervisor:
        raise SystemExit(0)  # it died before the signal was asked for


def _exit_status(status: int) -> int:
    """The shell-style exit code of a ``waitpid`` status."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Supervisor:
    """Runs ``count`` workers, each calling ``work(index)`` in a forked child."""

    def __init__(
        self,
        count: int,
        work: Callable[[int], int],
        reaped: Callable[[int], None] = lambda _pid: None,
    ) -> None:
        if count < 1:
            raise ValueError("a node needs at least one worker")
        self._count = count
        self._work = work
        # Told the pid of every worker that exited (its metrics files are then retired).
        self._reaped = reaped
        self._children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self._stopping = False
        self._early_exits = 0

    def run(self) -> int:
        """Fork the workers and supervise them until they have all stopped; the exit status."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        status = 0
        try:
            for index in range(self._count):
                self._spawn(index)
            while self._children:
                try:
                    pid, raw = os.wait()
                except ChildProcessError:
                    break
                entry = self._children.pop(pid, None)
                if entry is None:
                    continue
                self._reaped(pid)
                index, started = entry
                code = _exit_status(raw)
                if self._stopping:
                    status = status or code
                    continue
                log.warning(
                    "worker %d (pid %d) exited with status %d; restarting it", index, pid, code
                )
                if time.monotonic() - started < EARLY_EXIT:
                    self._early_exits += 1
                    if self._early_exits >= MAX_EARLY_EXITS:
                        log.error("workers keep failing at start; stopping the node")
                        self._stop(signal.SIGTERM, None)
                        status = code or 1
                        continue
                    time.sleep(RESTART_DELAY)
                else:
                    self._early_exits = 0
                if not self._stopping:
                    self._spawn(index)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _spawn(self, index: int) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                # Its own handlers come with its event loop; a stop asked before then (it was
                # still starting) is a clean exit: it served nothing yet.
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, _exit_cleanly)
                _stop_with(supervisor)
                code = self._work(index)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self._children[pid] = (index, time.monotonic())

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
