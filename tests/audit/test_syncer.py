"""The audit syncer process (``mamori.audit.syncer``): its death fails the audit log closed,
and it never outlives its worker. A real server, its processes found in /proc."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.audit.helpers import verified
from tests.compat.sdk import expect_error, new_sdk
from tests.conftest import ServerProcess, sqlite_server


def _server(tmp_path: Path, workers: int = 1) -> ServerProcess:
    return sqlite_server(tmp_path, env={"MAMORI_WORKERS": str(workers)})


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _descendants(root: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            ancestor = _parent(pid)
            while ancestor > 1 and ancestor != root:
                ancestor = _parent(ancestor)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if ancestor == root:
            found.append(pid)
    return found


def _syncers(root: int) -> list[int]:
    """The syncer processes under the server process ``root``."""
    syncers = []
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except FileNotFoundError:
            continue
        if b"-c" in argv and any(b"recv_fds" in arg for arg in argv):
            syncers.append(pid)
    return syncers


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_dead_syncer_fails_the_audit_log_closed(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        assert server.process is not None
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        syncers = _syncers(server.process.pid)
        assert len(syncers) == 1, syncers
        os.kill(syncers[0], signal.SIGKILL)
        expect_error(
            "Rejected.AuditUnavailable",
            503,
            lambda: kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ==")),
        )
        health = httpx.get(f"http://{server.endpoint}/health", timeout=5).json()
        assert health["Audit"].startswith("unavailable: the audit syncer stopped"), health
        assert httpx.get(f"http://{server.endpoint}/ready", timeout=5).status_code == 503
        # A restart brings a new syncer, and the chain still verifies.
        server.restart()
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
    finally:
        server.stop()
    verified(server.data_dir)


def test_every_worker_has_one_syncer_and_it_dies_with_its_worker(tmp_path: Path) -> None:
    server = _server(tmp_path, workers=2)
    server.start()
    try:
        assert server.process is not None
        root = server.process.pid
        assert _wait(lambda: len(_syncers(root)) == 2), _syncers(root)
        syncer = _syncers(root)[0]
        worker = _parent(syncer)
        os.kill(worker, signal.SIGKILL)
        assert _wait(lambda: not _alive(syncer)), "the syncer outlived its worker"
        # The supervisor starts a new worker, with a syncer of its own.
        assert _wait(lambda: len(_syncers(root)) == 2, 20), _syncers(root)
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        for _ in range(4):
            kms.describe_regions()
        syncers = _syncers(root)
    finally:
        assert server.stop() == 0
    assert _wait(lambda: not any(_alive(pid) for pid in syncers)), "syncers left after stop"
    verified(server.data_dir)


def test_a_removed_segment_fails_the_log_closed(tmp_path: Path) -> None:
    """A segment removed under a running server (by hand, or a rotation rule on ``*.jsonl``)
    would take records nobody can read while the chain still verifies: refused instead."""
    server = _server(tmp_path)
    server.start()
    try:
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        segments = list((server.data_dir / "audit").glob("*/*.jsonl"))
        assert len(segments) == 1, segments
        segments[0].unlink()
        expect_error(
            "Rejected.AuditUnavailable",
            503,
            lambda: kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ==")),
        )
        health = httpx.get(f"http://{server.endpoint}/health", timeout=5).json()
        assert health["Audit"] == (
            f"unavailable: the audit segment {segments[0]} is gone: No such file or directory"
        ), health
        expect_error("Rejected.AuditUnavailable", 503, lambda: kms.describe_regions())
    finally:
        server.stop()


def test_a_stalled_sync_fails_closed_at_its_deadline_and_the_server_still_stops(
    tmp_path: Path,
) -> None:
    """A hung disk (here: the syncer stopped with SIGSTOP) holds a request for at most the
    sync deadline (10 s), then the log fails closed; SIGTERM still stops the server."""
    server = _server(tmp_path)
    server.start()
    try:
        assert server.process is not None
        kms = new_sdk(
            server.endpoint, server.access_key_id, server.access_key_secret, read_timeout=30_000
        )
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        assert 9 < _stall_then_encrypt(server.process.pid, kms, key_id) < 20
        health = httpx.get(f"http://{server.endpoint}/health", timeout=5).json()
        assert "has not finished in 10 s" in health["Audit"], health
        assert httpx.get(f"http://{server.endpoint}/ready", timeout=5).status_code == 503
    finally:
        stopping = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - stopping < 25


def _stall_then_encrypt(server_pid: int, kms: Client, key_id: str) -> float:
    """Stop the server's syncer (SIGSTOP: a hung disk), send an Encrypt, expect it refused
    once the sync deadline passes; the seconds it took."""
    (syncer,) = _syncers(server_pid)
    os.kill(syncer, signal.SIGSTOP)
    started = time.monotonic()
    expect_error(
        "Rejected.AuditUnavailable",
        503,
        lambda: kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ==")),
    )
    return time.monotonic() - started


def test_a_sync_that_stalls_late_in_the_deadline_timer_still_gets_its_whole_deadline(
    tmp_path: Path,
) -> None:
    """One deadline timer serves the commits that start while it runs (audit/log.py
    ``_sync_overdue``): a commit that stalls 5 s after the one that armed it must still get its
    own 10 s, neither failing when the timer first fires nor waiting past its own deadline."""
    server = _server(tmp_path)
    server.start()
    try:
        assert server.process is not None
        kms = new_sdk(
            server.endpoint, server.access_key_id, server.access_key_secret, read_timeout=30_000
        )
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id  # arms it
        time.sleep(5)
        assert 9 < _stall_then_encrypt(server.process.pid, kms, key_id) < 14
    finally:
        assert server.stop() == 0
