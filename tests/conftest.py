"""Shared fixtures: a real ``mamori server`` process per store backend, and official SDK clients.

Every compatibility test runs once against SQLite and once against PostgreSQL
(127.0.0.1:5432). In CI (``CI=true``) a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("MAMORI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    # Both official SDKs ignore NO_PROXY; a proxy in the environment would swallow 127.0.0.1.
    os.environ.pop(_proxy, None)
# pytest-xdist's workers inherit COLUMNS=80 and LINES=24 from execnet, and rich freezes the
# size of a console made at import (the CLI's) to them: the CLI tests set COLUMNS per run, as
# a shell does, which only works while nothing froze it.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgDatabase:
    """A throwaway PostgreSQL database."""

    url: str
    name: str


def create_pg_database() -> PgDatabase:
    """Create a fresh database on the local PostgreSQL; fail in CI, skip elsewhere, if absent."""
    import psycopg

    name = f"mamori_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return PgDatabase(url=f"{base}/{name}", name=name)


def drop_pg_database(db: PgDatabase) -> None:
    """Drop a database made by ``create_pg_database``."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


@dataclass
class ServerProcess:
    """A running ``mamori server`` and how to reach it."""

    backend: str
    data_dir: Path
    store_url: str
    port: int
    tls_port: int
    process: subprocess.Popen[bytes] | None = None
    access_key_id: str = ""
    access_key_secret: str = ""
    # Kept across restarts: what this server is configured with beyond the defaults.
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """``host:port`` of the plain HTTP listener (what the SDKs call an endpoint)."""
        return f"127.0.0.1:{self.port}"

    @property
    def tls_endpoint(self) -> str:
        """``host:port`` of the HTTPS listener."""
        return f"127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """Mamori's own CA certificate."""
        return self.data_dir / "tls" / "ca.pem"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        """Start the process and wait until /health answers."""
        # One worker unless a test asks for more: a second process per server would only slow
        # the suite; tests/test_workers.py runs several.
        env = {
            **os.environ,
            "MAMORI_JOBS_INTERVAL": "0.5",
            "MAMORI_WORKERS": "1",
            **self.env,
            **(extra_env or {}),
        }
        env.pop("MAMORI_CONFIG", None)
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mamori.cli",
                "server",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--tls-port",
                str(self.tls_port),
                "--store-url",
                self.store_url,
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mamori server exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"http://{self.endpoint}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"mamori server did not become ready:\n{self.log_path.read_text()}")
        ini = configparser.ConfigParser()
        ini.read(self.data_dir / "admin.credentials")
        self.access_key_id = ini["default"]["access_key_id"]
        self.access_key_secret = ini["default"]["access_key_secret"]

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()

    def restart(self) -> None:
        """Stop and start again on the same data and store."""
        self.stop()
        self.start()


def sqlite_server(tmp: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """A server of a test's own (not started): SQLite in ``tmp/data``, free ports."""
    return ServerProcess(
        "sqlite",
        tmp / "data",
        f"sqlite:///{tmp / 'data' / 'mamori.db'}",
        free_port(),
        free_port(),
        env=env or {},
    )


def _store_url(backend: str, tmp: Path) -> tuple[str, PgDatabase | None]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'data' / 'mamori.db'}", None
    pg = create_pg_database()
    return pg.url, pg


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each store backend the suite runs against."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for the whole session."""
    tmp = tmp_path_factory.mktemp(f"mamori-{backend}")
    url, pg = _store_url(backend, tmp)
    proc = ServerProcess(backend, tmp / "data", url, free_port(), free_port())
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        if pg is not None:
            drop_pg_database(pg)


@pytest.fixture
def fresh_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that restart or stop it."""
    url, pg = _store_url(backend, tmp_path)
    proc = ServerProcess(backend, tmp_path / "data", url, free_port(), free_port())
    proc.start()
    try:
        yield proc
    finally:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()
        if pg is not None:
            drop_pg_database(pg)


def own_address() -> str | None:
    """This machine's non-loopback IPv4 address (the one its default route uses), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


class FirstBytes:
    """A TCP listener that records the first bytes each connection sends, then hangs up: what
    a client would have put on the wire to whoever listens at that address."""

    def __init__(self, host: str) -> None:
        import threading

        self._sock = socket.socket()
        self._sock.bind((host, 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join()
        self._sock.close()
