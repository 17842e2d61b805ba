"""The official Secrets Manager client v2 (``alibabacloud-secretsmanager-client-v2``) end to end.

The client runs in a subprocess, configured only through its documented environment variables
(``credentials_type``, ``credentials_access_key_id``, ``credentials_access_secret``,
``cache_client_region_id``) and pointed at Mamori's HTTPS listener. It verifies TLS against
certifi plus OpenSSL's default verify paths, so an operator trusts Mamori's ``tls/ca.pem`` either
by installing it in the system store or, as here, with ``SSL_CERT_FILE`` (see docs/secrets.md).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from subprocess import Popen

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

pytest.importorskip("alibabacloud_secretsmanager_client_v2")

CLIENT_SCRIPT = client_script(
    "alibabacloud_secretsmanager_client_v2",
    value_check="client.get_secret_value(name) is not None",
    refresh="client.refresh_now(name)",
)


def start(server: ServerProcess, name: str, cwd: Path, *, trust_ca: bool = True) -> Popen[str]:
    """The v2 client in this interpreter, trusting Mamori's CA when asked."""
    env = client_env(server, ca_file=server.ca_file if trust_ca else None)
    return start_client(sys.executable, CLIENT_SCRIPT, name, env, cwd)


def test_cache_client_reads_and_refreshes(
    kms: Client, server: ServerProcess, tmp_path: Path
) -> None:
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="one"))

    proc = start(server, name, tmp_path)
    try:
        first = read_line(proc)
        assert first["name"] == name
        assert (first["version"], first["value"], first["type"]) == ("v1", "one", "text")
        assert first["secret_type"] == "Generic" and first["create_time"]

        kms.put_secret_value(
            km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="two")
        )
        ask_refresh(proc)
        second = read_line(proc)
        assert (second["version"], second["value"]) == ("v2", "two")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cache_client_rejects_untrusted_server(
    kms: Client, server: ServerProcess, tmp_path: Path
) -> None:
    """Without the CA step the client refuses Mamori's certificate: verification is real."""
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x"))
    proc = start(server, name, tmp_path, trust_ca=False)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in err
