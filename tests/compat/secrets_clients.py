"""Running an official Secrets Manager cache client in a subprocess, as an application would:
configured only through its documented environment variables."""

from __future__ import annotations

import json
import os
import select
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

READ_TIMEOUT = 60.0

# Reads a secret, waits for a line on stdin, forces a refresh, reads it again. The two clients
# share this shape; only their package and the checks they can make differ.
_SCRIPT = """
import json, sys
from {package}.secret_manager_cache_client_builder import SecretManagerCacheClientBuilder

name = sys.argv[1]
client = SecretManagerCacheClientBuilder.new_client()

def show(info):
    print(json.dumps({{
        "name": info.secret_name,
        "version": info.version_id,
        "value": info.secret_value,
        "type": info.secret_data_type,
        "secret_type": info.secret_type,
        "create_time": info.create_time,
    }}), flush=True)

try:
    show(client.get_secret_info(name))
    assert {value_check}
    sys.stdin.readline()
    {refresh}
    show(client.get_secret_info(name))
finally:
    client.close()
"""

# Variables that would change how a client finds its configuration or trusts certificates.
_STRIPPED = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY"}


def client_script(package: str, *, value_check: str, refresh: str) -> str:
    """The client program for ``package`` (the import name of the client)."""
    return _SCRIPT.format(package=package, value_check=value_check, refresh=refresh)


def client_env(server: ServerProcess, *, ca_file: Path | None = None) -> dict[str, str]:
    """The environment an operator would give the application; ``ca_file`` is the trust step
    (``SSL_CERT_FILE``) for clients that verify the server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in _STRIPPED
        and not k.startswith(("credentials_", "cache_client_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        credentials_type="ak",
        credentials_access_key_id=server.access_key_id,
        credentials_access_secret=server.access_key_secret,
        cache_client_region_id=json.dumps(
            [{"regionId": "cn-hangzhou", "endpoint": server.tls_endpoint}]
        ),
    )
    if ca_file is not None:
        env["SSL_CERT_FILE"] = str(ca_file)
    return env


def start_client(
    python: str, script: str, name: str, env: dict[str, str], cwd: Path
) -> subprocess.Popen[str]:
    """Start the client program with ``python``; ``cwd`` holds no stray properties file."""
    return subprocess.Popen(
        [python, "-c", script, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def read_line(proc: subprocess.Popen[str]) -> dict[str, str]:
    """One JSON line from the client; fails (instead of hanging in its retries) on silence."""
    assert proc.stdout is not None and proc.stderr is not None
    ready, _, _ = select.select([proc.stdout], [], [], READ_TIMEOUT)
    if not ready:
        proc.kill()
        pytest.fail(f"client silent for {READ_TIMEOUT}s:\n{proc.communicate()[1]}")
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        pytest.fail(f"client exited {proc.returncode}:\n{proc.stderr.read()}")
    result: dict[str, str] = json.loads(line)
    return result


def ask_refresh(proc: subprocess.Popen[str]) -> None:
    """Tell the client program to refresh and read again."""
    assert proc.stdin is not None
    proc.stdin.write("refresh\n")
    proc.stdin.flush()
