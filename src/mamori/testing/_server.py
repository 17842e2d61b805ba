"""Start a throwaway ``mamori server`` in a subprocess on free ports, and say how to reach it.

A subprocess, not a thread: the server owns its event loop, signals and SQLite handles, and the
test process stays free of server code. Nothing here imports server modules.
"""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# The official SDKs send through HTTP(S)_PROXY and ignore NO_PROXY; the server's own
# environment must not carry a proxy either (its STS and health checks are local).
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
# Every server setting has a MAMORI_* variable: a developer's shell configured for a real
# server (MAMORI_HOST=0.0.0.0, MAMORI_HSM_*, MAMORI_CONFIG, …) must configure nothing here.
_SETTINGS_PREFIX = "MAMORI_"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class MamoriCredentials:
    """The administrator's AccessKey of a test server and where it listens."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    endpoint: str  # HOST:PORT of plain HTTP
    tls_endpoint: str  # HOST:PORT of HTTPS, with ``ca_file``
    ca_file: Path
    credentials_file: Path  # Alibaba's INI format, 0600
    region_id: str = "cn-hangzhou"

    def config(self, **overrides: Any) -> Any:
        """An ``alibabacloud_tea_openapi.models.Config`` for the official SDKs (plain HTTP)."""
        from alibabacloud_tea_openapi.models import Config

        settings: dict[str, Any] = {
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "endpoint": self.endpoint,
            "protocol": "http",
            "region_id": self.region_id,
        }
        settings.update(overrides)
        return Config(**settings)

    def environ(self) -> dict[str, str]:
        """The variables the official credential chain reads, pointing at this server's key."""
        return {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
            "ALIBABA_CLOUD_CREDENTIALS_FILE": str(self.credentials_file),
        }


@dataclass
class MamoriServer:
    """A running test server."""

    data_dir: Path
    port: int
    tls_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    start_seconds: float = 0.0  # from launch to the first answered request
    credentials: MamoriCredentials | None = None

    @property
    def endpoint(self) -> str:
        """HOST:PORT of plain HTTP."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> int:
        """SIGTERM; wait for a clean exit (kill after 10 s)."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_server(directory: Path, *args: str) -> Iterator[MamoriServer]:
    """Run ``mamori server`` on SQLite under ``directory``, on 127.0.0.1 only, until the block
    ends; extra ``args`` go to ``mamori server``. No ``MAMORI_*`` variable of the caller's
    environment reaches it: flags in ``args`` are the only way to configure it."""
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = directory / "data"
    port, tls_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _PROXIES and not k.upper().startswith(_SETTINGS_PREFIX)
    }
    env["MAMORI_LOG_LEVEL"] = "warning"
    log_path = directory / "mamori-server.log"
    with log_path.open("ab") as log:
        began = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "mamori.cli", "server", "--data-dir", str(data_dir),
             "--host", "127.0.0.1", "--port", str(port), "--tls-port", str(tls_port),
             "--workers", "1",
             "--store-url", f"sqlite:///{data_dir / 'mamori.db'}", *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=directory,
        )  # fmt: skip
    server = MamoriServer(data_dir, port, tls_port, process, log_path)
    try:
        server.start_seconds = _wait(server, began)
        server.credentials = _credentials(server)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


def _wait(server: MamoriServer, began: float) -> float:
    with httpx.Client(timeout=1.0, trust_env=False) as http:
        while time.monotonic() - began < START_TIMEOUT:
            if server.process.poll() is not None:
                raise RuntimeError(f"mamori server exited:\n{server.log_path.read_text()}")
            try:
                if http.get(f"http://{server.endpoint}/health").status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"mamori server did not answer in {START_TIMEOUT} s:\n"
                       f"{server.log_path.read_text()}")  # fmt: skip


def _credentials(server: MamoriServer) -> MamoriCredentials:
    path = server.data_dir / "admin.credentials"
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(path)
    return MamoriCredentials(
        access_key_id=ini["default"]["access_key_id"],
        access_key_secret=ini["default"]["access_key_secret"],
        endpoint=server.endpoint,
        tls_endpoint=f"127.0.0.1:{server.tls_port}",
        ca_file=server.data_dir / "tls" / "ca.pem",
        credentials_file=path,
    )
