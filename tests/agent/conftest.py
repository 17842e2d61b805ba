"""A real ``mamori agent`` process in front of a real ``mamori server``, driven over HTTP the
way an application in any language would (httpx here, curl there)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mamori.client import Client
from tests.conftest import ROOT, ServerProcess, free_port


@dataclass
class AgentProcess:
    """A running agent, its token and its log."""

    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def get(self, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """GET with the token in ``X-KMS-Token`` (or the given one)."""
        headers = {"X-KMS-Token": self.token if token is None else token}
        headers.update(kwargs.pop("headers", {}))
        return self.http.get(path, headers=headers, **kwargs)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST JSON with the token."""
        return self.http.post(path, json=body, headers={"X-KMS-Token": self.token})

    def stats(self) -> dict[str, Any]:
        """``GET /mamori/stats``."""
        response = self.get("/mamori/stats")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def log(self) -> str:
        """Everything the agent wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def agent_env(server: ServerProcess, home: Path, **extra: str) -> dict[str, str]:
    """An environment whose credential chain finds only the server's admin credentials file
    (no ECS metadata probe, no CLI profile), unless ``extra`` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "KMS_"))}
    env.update(
        {
            "HOME": str(home),
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            "ALIBABA_CLOUD_CREDENTIALS_FILE": str(server.data_dir / "admin.credentials"),
        }
    )
    env.update(extra)
    return env


def agent_command(*args: str) -> list[str]:
    """``mamori agent`` with ``args``."""
    return [sys.executable, "-m", "mamori.cli", "agent", *args]


def write_config(directory: Path, server: ServerProcess, port: int, extra: str = "") -> Path:
    """A TOML file pointing at the server's HTTPS listener with its CA; ``extra`` (further
    sections) is appended."""
    path = directory / f"agent-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(
        f"""
[KMS]
Endpoint = "{server.tls_endpoint}"
Protocol = "https"
CaFile = "{server.ca_file}"

{extra}
"""
    )
    return path


def start_agent(
    directory: Path,
    server: ServerProcess,
    extra: str = "",
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    token: str | None = None,
) -> AgentProcess:
    """Start an agent and wait until ``/ping`` answers."""
    port = free_port()
    token = token or secrets.token_hex(16)
    config = write_config(directory, server, port, extra)
    log_path = directory / f"agent-{port}.log"
    environment = env if env is not None else agent_env(server, directory)
    if "--token-file" not in args:
        environment.setdefault("KMS_TOKEN", token)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            agent_command("--config", str(config), "--port", str(port), *args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=ROOT,
        )
    agent = AgentProcess(port, token, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mamori agent exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return agent
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"mamori agent did not become ready:\n{log_path.read_text()}")


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start agents (stopped at the end of the test)."""
    started: list[AgentProcess] = []

    def start(server: ServerProcess, extra: str = "", **kwargs: Any) -> AgentProcess:
        agent = start_agent(tmp_path, server, extra, **kwargs)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[Client]:
    """Mamori's own client as the account administrator."""
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        yield client


def new_secret(client: Client, value: str = "", **params: Any) -> str:
    """Create a text secret (version ``v1``) and return its name."""
    name = f"agent/{uuid.uuid4().hex[:10]}"
    client.call(
        "CreateSecret",
        SecretName=name,
        VersionId="v1",
        SecretData=value or f"value-{name}",
        **params,
    )
    return name
