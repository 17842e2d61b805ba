"""The official Secrets Manager client v2 (``alibabacloud-secretsmanager-client-v2``) end to end.

The client runs in a subprocess, configured only through its documented environment variables
(``credentials_type``, ``credentials_access_key_id``, ``credentials_access_secret``,
``cache_client_region_id``) and pointed at Mamori's HTTPS listener. It verifies TLS against
certifi plus OpenSSL's default verify paths, so an operator trusts Mamori's ``tls/ca.pem`` either
by installing it in the system store or, as here, with ``SSL_CERT_FILE`` (see docs/secrets.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.conftest import ServerProcess

pytest.importorskip("alibabacloud_secretsmanager_client_v2")

# Reads a secret, waits for a line on stdin, forces a refresh, reads it again.
CLIENT_SCRIPT = """
import json, sys
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)

name = sys.argv[1]
client = SecretManagerCacheClientBuilder.new_client()

def show(info):
    print(json.dumps({
        "name": info.secret_name,
        "version": info.version_id,
        "value": info.secret_value,
        "type": info.secret_data_type,
        "secret_type": info.secret_type,
        "create_time": info.create_time,
    }), flush=True)

try:
    show(client.get_secret_info(name))
    assert client.get_secret_value(name) is not None
    sys.stdin.readline()
    client.refresh_now(name)
    show(client.get_secret_info(name))
finally:
    client.close()
"""


def client_env(server: ServerProcess, *, trust_ca: bool) -> dict[str, str]:
    """The environment an operator would give the application."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in {"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY"}
        and not k.startswith(("credentials_", "cache_client_"))
    }
    env.update(
        credentials_type="ak",
        credentials_access_key_id=server.access_key_id,
        credentials_access_secret=server.access_key_secret,
        cache_client_region_id=json.dumps(
            [{"regionId": "cn-hangzhou", "endpoint": server.tls_endpoint}]
        ),
    )
    if trust_ca:
        env["SSL_CERT_FILE"] = str(server.ca_file)
    return env


def start_client(
    server: ServerProcess, name: str, cwd: Path, *, trust_ca: bool = True
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(server, trust_ca=trust_ca),
        cwd=cwd,  # no stray secretsmanager.properties
    )


def read_line(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        assert proc.stderr is not None
        pytest.fail(f"client exited {proc.returncode}:\n{proc.stderr.read()}")
    result: dict[str, str] = json.loads(line)
    return result


def test_cache_client_reads_and_refreshes(
    kms: Client, server: ServerProcess, tmp_path: Path
) -> None:
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="one"))

    proc = start_client(server, name, tmp_path)
    try:
        first = read_line(proc)
        assert first["name"] == name
        assert (first["version"], first["value"], first["type"]) == ("v1", "one", "text")
        assert first["secret_type"] == "Generic" and first["create_time"]

        kms.put_secret_value(
            km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="two")
        )
        assert proc.stdin is not None
        proc.stdin.write("refresh\n")
        proc.stdin.flush()
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
    proc = start_client(server, name, tmp_path, trust_ca=False)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in err
