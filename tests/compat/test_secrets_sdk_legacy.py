"""The legacy Secrets Manager client (``aliyun-secret-manager-client`` 0.1.5) end to end.

0.1.5 pins ``cryptography<=38.0.3``, so it must never share Mamori's environment (issue 4): a
session fixture builds a dedicated virtual environment with plain ``pip`` from the configured
index (cached in the pytest cache dir), and the client runs there in a subprocess, configured
only through its documented environment variables (``credentials_type``,
``credentials_access_key_id``, ``credentials_access_secret``, ``cache_client_region_id``).

It calls ``GetSecretValue`` with the old ``aliyun-python-sdk-core`` (RPC, signature V1) over
HTTPS, but builds its ``AcsClient`` with ``verify=False``: it does not check the server's
certificate at all, so no CA trust step exists (or is needed) for this client.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.secrets_clients import (
    ask_refresh,
    client_env,
    client_script,
    read_line,
    start_client,
)
from tests.conftest import ServerProcess
from tests.own_venv import own_venv

REQUIREMENT = "aliyun-secret-manager-client==0.1.5"

CLIENT_SCRIPT = client_script(
    "alibaba_cloud_secretsmanager_client",
    value_check='client.get_secret_value(name) == "one"',
    refresh="assert client.refresh_now(name)",
)


@pytest.fixture(scope="session")
def legacy_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv holding only the legacy client (built once, then cached)."""
    return own_venv(request, tmp_path_factory, "secretsmanager-client-v1-venv", (REQUIREMENT,))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses to kill if the test leaves them running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_legacy_cache_client_reads_and_refreshes(
    legacy_python: Path,  # first: a failed install skips before the servers start
    kms: Client,
    server: ServerProcess,
    procs: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    name = f"sdk1-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="one"))

    # No CA step: this client does not verify the server (see the module docstring).
    proc = start_client(str(legacy_python), CLIENT_SCRIPT, name, client_env(server), tmp_path)
    procs.append(proc)

    first = read_line(proc)
    assert first["name"] == name
    assert (first["version"], first["value"], first["type"]) == ("v1", "one", "text")
    assert first["secret_type"] == "Generic" and first["create_time"]

    kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="two")
    )
    ask_refresh(proc)
    second = read_line(proc)
    assert (second["name"], second["version"], second["value"]) == (name, "v2", "two")
    assert proc.wait(timeout=60) == 0, proc.communicate()[1]
