"""The lock between a node's processes."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mamori.node.shared import ProcessLock


def test_a_forked_child_is_a_holder_of_its_own(tmp_path: Path) -> None:
    # Had the child kept the parent's open file description, flock would count the two as
    # one holder and let the child in while the parent holds the lock.
    lock = ProcessLock(tmp_path / "lock")
    fd = lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:
            try:
                fcntl.flock(lock._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        lock.release(fd)


def test_the_lock_is_taken_again_after_release(tmp_path: Path) -> None:
    lock = ProcessLock(tmp_path / "lock")
    for _ in range(3):
        lock.release(lock.acquire())
    with lock.held():
        pass
