"""``mamori server --workers N``: worker processes on one listener, sharing what must be shared.

Real processes throughout. A connection's worker is found the way an operator would: the
server-side socket of the connection, looked up in ``/proc`` among the workers' descriptors. So
each test addresses a chosen worker, not whichever one the kernel picks.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from alibabacloud_kms20160120 import models as km
from sqlalchemy import create_engine, update

from mamori.client._signing import sign
from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import new_sdk
from tests.conftest import (
    ServerProcess,
    _store_url,
    create_pg_database,
    drop_pg_database,
    free_port,
)

KMS = "2016-01-20"


# -- which worker holds a connection ------------------------------------------------------------


def workers_of(master: int) -> list[int]:
    """The worker pids of a node (the supervisor's children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _socket_inode(local_port: int, remote_port: int) -> str:
    """The inode of the server-side socket of the connection from ``local_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.rsplit(":", 1)[1], 16) == remote_port
                and int(remote.rsplit(":", 1)[1], 16) == local_port
            ):
                return fields[9]
    raise AssertionError("no server socket for the connection")


def worker_of(conn: http.client.HTTPConnection, master: int, port: int) -> int:
    """The worker serving ``conn`` (after one request on it)."""
    assert conn.sock is not None
    inode = _socket_inode(conn.sock.getsockname()[1], port)
    for pid in workers_of(master):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def connections_on_workers(
    node: ServerProcess, count: int
) -> dict[int, http.client.HTTPConnection]:
    """One open keep-alive connection to each of ``count`` different workers."""
    assert node.process is not None
    found: dict[int, http.client.HTTPConnection] = {}
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        conn.request("GET", "/health")
        conn.getresponse().read()
        pid = worker_of(conn, node.process.pid, node.port)
        if pid in found:
            conn.close()
        else:
            found[pid] = conn
        if len(found) == count:
            return found
    raise AssertionError(f"could not reach {count} workers")


def signed(
    node: ServerProcess, action: str, ahead: float = 0.0, **query: str
) -> tuple[str, dict[str, str]]:
    """A signed request (target, headers) with a fresh nonce, made now by a clock ``ahead``
    seconds fast."""
    headers = sign(
        host=node.endpoint,
        action=action,
        version=KMS,
        query=query,
        access_key_id=node.access_key_id,
        secret=node.access_key_secret,
        now=time.time() + ahead,
    )
    return "/?" + urlencode(query), headers


def send(conn: http.client.HTTPConnection, request: tuple[str, dict[str, str]]) -> tuple[int, str]:
    """(status, Code or "ok") of one request on ``conn``."""
    target, headers = request
    conn.request("POST", target, headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    return response.status, str(body.get("Code", "ok"))


def accepted(node: ServerProcess, ahead: float = 0.0) -> tuple[str, dict[str, str]]:
    """A request the node has just accepted (to be replayed later)."""
    request = signed(node, "ListKeys", ahead=ahead)
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    assert send(conn, request) == (200, "ok")
    conn.close()
    return request


def kill_and_start(node: ServerProcess) -> None:
    """SIGKILL to the whole node (nothing is saved), then a start on the same data."""
    process = node.process
    assert process is not None
    for pid in [*workers_of(process.pid), process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.wait()
    node.start()


# -- fixtures ----------------------------------------------------------------------------------


def _node(tmp: Path, backend: str, workers: int, url: str | None = None) -> ServerProcess:
    store = url or _store_url(backend, tmp)[0]
    node = ServerProcess(backend, tmp / "data", store, free_port(), free_port())
    node.env = {"MAMORI_WORKERS": str(workers)}
    return node


@pytest.fixture
def two_workers(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    url, pg = _store_url(backend, tmp_path)
    node = _node(tmp_path, backend, 2, url)
    node.start()
    for conn in connections_on_workers(node, 2).values():  # both serve, not just the first
        conn.close()
    try:
        yield node
    finally:
        if node.process is not None and node.process.poll() is None:
            node.stop()
        if pg is not None:
            drop_pg_database(pg)


def _second_node(first: ServerProcess, tmp: Path, workers: int) -> ServerProcess:
    """Another node on ``first``'s PostgreSQL store, with its root key."""
    (tmp / "b").mkdir()
    shutil.copy2(first.data_dir / "root.key", tmp / "b" / "root.key")
    shutil.copy2(first.data_dir / "admin.credentials", tmp / "b" / "admin.credentials")
    second = ServerProcess("postgres", tmp / "b", first.store_url, free_port(), free_port())
    second.env = {"MAMORI_WORKERS": str(workers)}
    return second


@pytest.fixture
def two_nodes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[ServerProcess]]:
    workers = getattr(request, "param", 1)
    pg = create_pg_database()
    first = ServerProcess("postgres", tmp_path / "a", pg.url, free_port(), free_port())
    first.env = {"MAMORI_WORKERS": str(workers)}
    started: list[ServerProcess] = []
    try:
        first.start()
        started.append(first)
        second = _second_node(first, tmp_path, workers)
        second.start()
        started.append(second)
        yield started
    finally:
        for node in started:
            node.stop()
        drop_pg_database(pg)


# -- replays ----------------------------------------------------------------------------------


def test_a_replay_to_another_worker_is_refused(two_workers: ServerProcess) -> None:
    first, second = connections_on_workers(two_workers, 2).values()
    request = signed(two_workers, "ListKeys")
    assert send(first, request) == (200, "ok")
    assert send(second, request) == (400, "SignatureNonceUsed")
    assert send(first, request) == (400, "SignatureNonceUsed")


def test_a_replay_to_another_node_is_refused(two_nodes: list[ServerProcess]) -> None:
    a, b = two_nodes
    request = signed(a, "ListKeys")  # signed for a's Host; b serves any Host
    to_a = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    to_b = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
    assert send(to_a, request) == (200, "ok")
    assert send(to_b, request) == (400, "SignatureNonceUsed")
    # And the other way round, first on b.
    request = signed(a, "ListKeys")
    assert send(to_b, request) == (200, "ok")
    assert send(to_a, request) == (400, "SignatureNonceUsed")


def test_a_replay_after_the_node_restarts_is_refused(
    two_workers: ServerProcess, backend: str, request: pytest.FixtureRequest
) -> None:
    """A request captured minutes before a restart (an upgrade, a crash, the OOM killer) is
    still fresh after it: the node must not have forgotten its nonce. On PostgreSQL the store's
    ``nonces`` table remembers it. On SQLite the only memory is the node's shared table, which
    is new with the node (the capture used to be accepted a second time): the node refuses
    what was signed before its table existed, and serves only after that instant, so a request
    signed after the restart is accepted."""
    captured = accepted(two_workers)
    two_workers.restart()
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    # A clean stop saved the node's table (SQLite); the store's table (PostgreSQL).
    assert send(conn, captured) == (400, "SignatureNonceUsed")
    assert send(conn, signed(two_workers, "ListKeys")) == (200, "ok")  # signed at once


def test_after_a_clean_restart_a_client_whose_clock_is_behind_is_served(
    two_workers: ServerProcess,
) -> None:
    """The freshness window lets a clock up to 15 minutes slow in. The table loaded at the
    start knows every nonce accepted before it, so a request is not refused merely for being
    signed before the start (it used to be InvalidTimeStamp.Expired after every restart, for
    as long as the client's clock lagged). Here the clock lags by as long as the restart took:
    the request is signed at the instant the restart began."""
    began = time.time()
    two_workers.restart()
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    request = signed(two_workers, "ListKeys", ahead=began - time.time())
    assert send(conn, request) == (200, "ok")
    assert send(conn, request) == (400, "SignatureNonceUsed")


def test_a_replay_stamped_ahead_of_a_restart_is_refused_after_it(
    two_workers: ServerProcess,
) -> None:
    """A client whose clock runs ten minutes fast signs a request stamped after the restart
    that follows: only the node's memory can refuse its replay. A clean stop saves the table
    (``run/nonces.table``, 0600) and the next start loads it."""
    captured = accepted(two_workers, ahead=600)
    two_workers.stop()
    saved = two_workers.data_dir / "run" / "nonces.table"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert saved.stat().st_size < 64 * 1024  # the pages that hold anything, not 200 MB
    two_workers.start()
    assert not saved.exists()  # loaded, and gone: a node that dies later cannot load it again
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    assert send(conn, captured) == (400, "SignatureNonceUsed")
    assert send(conn, signed(two_workers, "ListKeys", ahead=600)) == (200, "ok")


def test_after_a_node_is_killed_what_it_signed_before_is_refused(
    two_workers: ServerProcess, backend: str
) -> None:
    """SIGKILL to the whole node: nothing saved. A request signed before the kill and
    replayed after it is refused all the same, by the horizon on SQLite (the node's memory
    starts empty) and by the store's table on PostgreSQL."""
    captured = accepted(two_workers)
    kill_and_start(two_workers)
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    refused = "InvalidTimeStamp.Expired" if backend == "sqlite" else "SignatureNonceUsed"
    assert send(conn, captured) == (400, refused)
    assert send(conn, signed(two_workers, "ListKeys")) == (200, "ok")


def test_a_table_loaded_at_a_start_is_not_loaded_again_after_a_kill(
    two_workers: ServerProcess,
) -> None:
    """Clean restart (the table saved and loaded), a request, then SIGKILL: the next start
    must not load the saved table again, which knows nothing of that request; without it the
    horizon refuses the replay."""
    two_workers.restart()
    captured = accepted(two_workers)
    kill_and_start(two_workers)
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    assert send(conn, captured)[0] == 400


def test_a_table_of_another_size_is_not_loaded_and_older_requests_are_refused(
    two_workers: ServerProcess, backend: str
) -> None:
    """nonce_cache_entries changed across a clean restart: the saved table does not fit and
    is not loaded, so the node knows nothing of what it accepted; having run before, it
    refuses what was signed before it started (on SQLite; PostgreSQL's table remembers)."""
    captured = accepted(two_workers)
    two_workers.stop()
    two_workers.env["MAMORI_NONCE_CACHE_ENTRIES"] = "1000000"
    two_workers.start()
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    refused = "InvalidTimeStamp.Expired" if backend == "sqlite" else "SignatureNonceUsed"
    assert send(conn, captured) == (400, refused)
    assert send(conn, signed(two_workers, "ListKeys")) == (200, "ok")


def test_a_new_node_serves_a_client_whose_clock_is_behind(tmp_path: Path) -> None:
    """A node's first start has accepted nothing before: no horizon. (The compat suite's
    clock-skew tests sign 14 minutes behind against servers started moments before.)"""
    node = _node(tmp_path, "sqlite", 2)
    node.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        assert send(conn, signed(node, "ListKeys", ahead=-840)) == (200, "ok")
    finally:
        node.stop()


# -- caches follow the bus across workers -------------------------------------------------------


def test_a_key_disabled_through_one_worker_is_refused_by_the_other_at_once(
    two_workers: ServerProcess,
) -> None:
    kms = new_sdk(two_workers.endpoint, two_workers.access_key_id, two_workers.access_key_secret)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    a, b = connections_on_workers(two_workers, 2).values()
    plaintext = base64.b64encode(b"x").decode()

    def encrypt_on(conn: http.client.HTTPConnection) -> tuple[int, str]:
        return send(conn, signed(two_workers, "Encrypt", KeyId=key_id, Plaintext=plaintext))

    assert encrypt_on(b) == (200, "ok")  # b has the key cached now
    for _ in range(3):
        assert send(a, signed(two_workers, "DisableKey", KeyId=key_id)) == (200, "ok")
        assert encrypt_on(b)[1] == "Rejected.Disabled"  # the very next request
        assert send(a, signed(two_workers, "EnableKey", KeyId=key_id)) == (200, "ok")
        assert encrypt_on(b) == (200, "ok")


# -- background jobs, once per deployment ------------------------------------------------------


@pytest.mark.parametrize("two_nodes", [4], indirect=True)
def test_jobs_run_once_with_four_workers_on_each_of_two_nodes(
    two_nodes: list[ServerProcess],
) -> None:
    a = two_nodes[0]
    assert all(len(workers_of(n.process.pid)) == 4 for n in two_nodes if n.process)
    kms = new_sdk(a.endpoint, a.access_key_id, a.access_key_secret)
    keys = [
        kms.create_key(
            km.CreateKeyRequest(enable_automatic_rotation=True, rotation_interval="7d")
        ).body.key_metadata.key_id
        for _ in range(3)
    ]
    engine = create_engine(normalize_url(a.store_url))
    with engine.begin() as conn:
        conn.execute(
            update(t.keys)
            .where(t.keys.c.id.in_(keys))
            .values(next_rotation_at=int(time.time()) - 1)
        )
    engine.dispose()

    def versions(key_id: str) -> int:
        listing = kms.list_key_versions(km.ListKeyVersionsRequest(key_id=key_id)).body
        return int(listing.total_count)

    _eventually(lambda: all(versions(k) == 2 for k in keys))
    time.sleep(2.0)  # four more job intervals: nobody rotates again
    assert [versions(k) for k in keys] == [2, 2, 2]
    logs = "".join(n.log_path.read_text() for n in two_nodes)
    for key_id in keys:
        assert logs.count(f"rotated key {key_id}") == 1


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- stopping and crashing ---------------------------------------------------------------------


def test_sigterm_stops_every_worker_gracefully(two_workers: ServerProcess) -> None:
    assert two_workers.process is not None
    workers = workers_of(two_workers.process.pid)
    assert len(workers) == 2
    assert two_workers.stop() == 0
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
    assert two_workers.log_path.read_text().count("mamori stopped cleanly") == 2


def test_when_the_supervisor_is_killed_its_workers_stop_and_a_new_node_starts(
    two_workers: ServerProcess, backend: str
) -> None:
    """SIGKILL to the supervisor alone: its workers used to go on serving as orphans, holding
    the ports (no new node could start) with nobody to save the nonce table. Now each gets
    SIGTERM and stops; the next start knows the table was not saved."""
    captured = accepted(two_workers)
    process = two_workers.process
    assert process is not None
    workers = workers_of(process.pid)
    assert len(workers) == 2
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _eventually(lambda: not any(_alive(pid) for pid in workers))
    two_workers.start()
    conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
    refused = "InvalidTimeStamp.Expired" if backend == "sqlite" else "SignatureNonceUsed"
    assert send(conn, captured) == (400, refused)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def test_a_killed_worker_is_restarted_while_the_others_serve(two_workers: ServerProcess) -> None:
    assert two_workers.process is not None
    master = two_workers.process.pid
    connections = connections_on_workers(two_workers, 2)
    victim, survivor = list(connections)
    failures: dict[int, list[str]] = {victim: [], survivor: []}
    served: dict[int, int] = {victim: 0, survivor: 0}
    stop = threading.Event()

    def load(pid: int, conn: http.client.HTTPConnection) -> None:
        while not stop.is_set():
            try:
                status, code = send(conn, signed(two_workers, "ListKeys"))
            except (OSError, http.client.HTTPException) as exc:
                failures[pid].append(type(exc).__name__)
                return  # that connection is gone with its worker
            if status != 200:
                failures[pid].append(code)
                return
            served[pid] += 1

    threads = [threading.Thread(target=load, args=item) for item in connections.items()]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    _eventually(lambda: len(workers_of(master)) == 2 and victim not in workers_of(master))
    before = served[survivor]
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert failures[survivor] == []  # the other worker's connection never noticed
    assert served[survivor] > before
    assert len(failures[victim]) == 1  # only the killed worker's connection broke
    # The restarted worker serves too.
    connections_on_workers(two_workers, 2)
