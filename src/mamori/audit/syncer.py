"""The audit log's syncer: a child process of each writing worker that makes its segment file
durable, so that the worker's event loop never waits for a disk and never shares its GIL with a
thread that does.

Why a process and not a thread: a writer thread doing ``write`` + ``fdatasync`` needs the
worker's GIL several times per group commit (to take the batch, after each system call, to
wake the loop), and each time it waits for the busy event loop to give the GIL up, up to the
5 ms switch interval. Under load that, not the disk, set the length of a commit and so every
audited request's latency (a py-spy profile also showed ~9% of the loop's samples waking the
thread). The child has an interpreter of its own: the loop writes each batch to the page cache
itself (microseconds), sends the child one datagram, and learns that the batch is durable from
its selector, like any other socket.

The protocol, on a ``SOCK_SEQPACKET`` socket pair: the worker sends an 8-byte request number,
with the segment's file descriptor attached whenever the file to sync changes; the child runs
``fdatasync`` and answers the same 8 bytes followed by the errno (4 bytes, big-endian; 0 when
durable). One request is in flight at a time. The child ignores SIGINT and SIGTERM (the worker
drains its records first) and exits when the socket closes: when the worker stops, or dies.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Final

_REQUEST: Final = struct.Struct(">Q")
_ANSWER: Final = struct.Struct(">QI")

# Runs in the child, with ``python -I -S``: nothing but the standard library's os and socket.
_CHILD: Final = r"""
import os, signal, socket, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
channel = socket.socket(fileno=int(sys.argv[1]))
fd = -1
while True:
    try:
        message, fds, _flags, _address = socket.recv_fds(channel, 8, 1)
    except OSError:
        break
    if not message:
        break
    for new in fds:
        if fd >= 0:
            os.close(fd)
        fd = new
    try:
        os.fdatasync(fd)
        code = 0
    except OSError as exc:
        code = exc.errno or 5
    try:
        channel.send(message + code.to_bytes(4, "big"))
    except OSError:
        break
"""


class Syncer:
    """The worker's end of one chain's syncer process."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._number = 0

    def start(self, loop: asyncio.AbstractEventLoop, answered: Callable[[int, int], None]) -> None:
        """Start the child; ``answered(number, errno)`` is called on ``loop`` for each answer,
        and once with ``errno.EPIPE`` if the child goes away."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-I", "-S", "-c", _CHILD, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        self._channel, self._loop = ours, loop

        def readable() -> None:
            try:
                data = ours.recv(_ANSWER.size)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if len(data) != _ANSWER.size:
                loop.remove_reader(ours.fileno())
                answered(-1, errno.EPIPE)
                return
            number, code = _ANSWER.unpack(data)
            answered(number, code)

        ours.setblocking(False)
        loop.add_reader(ours.fileno(), readable)

    def request(self, fd: int | None) -> int:
        """Ask for a sync of the current file (``fd``: a new current file); returns the
        request's number. Raises ``OSError`` when the child is gone."""
        channel = self._channel
        if channel is None:
            raise OSError(errno.EPIPE, f"the audit syncer of {self._name} is not running")
        self._number += 1
        message = _REQUEST.pack(self._number)
        if fd is None:
            channel.send(message)
        else:
            socket.send_fds(channel, [message], [fd])
        return self._number

    def close(self) -> None:
        """Close the socket (the child exits on it) and reap the child."""
        channel, self._channel = self._channel, None
        if channel is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(channel.fileno())
            channel.close()
        process, self._process = self._process, None
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
