"""The Secrets Manager client v1 (``aliyun-secret-manager-client`` 0.1.5) reading a secret
through the dedicated gateway: configured only with ``cache_client_dkms_config_info`` (a client
key file from ``CreateClientKey``, its password in a file of its own, Mamori's CA file),
it calls the instance API's ``GetSecretValue`` through ``alibabacloud-dkms-transfer``, over
HTTPS, in its own venv (the legacy client's fixture)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.instance_sdks import SECRET_USER, grant
from tests.compat.secrets_clients import (
    ask_refresh,
    client_env,
    client_script,
    read_line,
    start_client,
)
from tests.compat.test_secrets_sdk_legacy import legacy_python
from tests.conftest import ServerProcess

__all__ = ["legacy_python"]  # the fixture, imported for use here

CLIENT_SCRIPT = client_script(
    "alibaba_cloud_secretsmanager_client",
    value_check='client.get_secret_value(name) == "one"',
    refresh="assert client.refresh_now(name)",
)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses to kill if the test leaves them running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_v1_client_reads_a_secret_through_a_client_key(
    legacy_python: Path,
    kms: Client,
    server: ServerProcess,
    procs: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    name = f"dkms-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="one"))
    instance = str(kms.get_default_kms_instance().body.default_kms_instance_id)
    access = grant(kms, instance, [f"secret/{name}"], permissions=(SECRET_USER,))
    key_file = tmp_path / f"clientKey_{access.client_key_id}.json"
    key_file.write_text(access.content)
    # passwordFromFilePath: 0.1.5's passwordFromEnvVariable reads the variable's value as the
    # name of another variable, then fails on os.environ.get(None) (its client_key_utils).
    password_file = tmp_path / f"clientKey_{access.client_key_id}_Password.txt"
    password_file.write_text(access.password)

    env = client_env(server)
    for variable in [k for k in env if k.startswith(("credentials_", "cache_client_"))]:
        del env[variable]  # no AccessKey, no shared-gateway region: the client key only
    env["cache_client_dkms_config_info"] = json.dumps(
        [
            {
                "regionId": "cn-hangzhou",
                "endpoint": server.tls_endpoint,
                "clientKeyFile": str(key_file),
                "passwordFromFilePath": str(password_file),
                "ignoreSslCerts": False,
                "caFilePath": str(server.ca_file),
            }
        ]
    )
    proc = start_client(str(legacy_python), CLIENT_SCRIPT, name, env, tmp_path)
    procs.append(proc)

    first = read_line(proc)
    assert (first["name"], first["version"], first["value"]) == (name, "v1", "one")
    kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="two")
    )
    ask_refresh(proc)
    second = read_line(proc)
    assert (second["name"], second["version"], second["value"]) == (name, "v2", "two")
    assert proc.wait(timeout=60) == 0, proc.communicate()[1]
