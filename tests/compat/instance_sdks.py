"""The official instance SDKs as an application runs them: one long-lived process per client
(``instance_sdk_driver.py`` in the SDKs' own venv), and the AAP set-up an operator makes for it
with the official KMS SDK (network rule → policy → AAP → client key).

Keeping the process alive across calls is what an application does, and it keeps the tests
fast: the SDKs take a third of a second to import.
"""

from __future__ import annotations

import json
import select
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.conftest import ServerProcess

DRIVER = Path(__file__).with_name("instance_sdk_driver.py")
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"
PASSWORD = "Dedicated-gateway-1"
ANSWER_TIMEOUT = 60.0


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Access:
    """What an operator made for one application: its rule, policy, AAP and client key."""

    rule: str
    policy: str
    aap: str
    client_key_id: str
    content: str  # the ClientKeyContent JSON the SDKs load
    password: str = PASSWORD


def grant(
    kms: Client,
    instance: str,
    resources: list[str],
    *,
    permissions: tuple[str, ...] = (KEY_USER, SECRET_USER),
    sources: tuple[str, ...] = ("127.0.0.1/32",),
) -> Access:
    """Network rule, policy, AAP and client key, made with the official KMS SDK."""
    rule, policy, aap = unique("rule"), unique("policy"), unique("aap")
    kms.create_network_rule(
        km.CreateNetworkRuleRequest(
            name=rule, type="Private", source_private_ip=json.dumps(list(sources))
        )
    )
    kms.create_policy(
        km.CreatePolicyRequest(
            name=policy,
            kms_instance=instance,
            permissions=json.dumps(list(permissions)),
            resources=json.dumps(resources),
            access_control_rules=json.dumps({"NetworkRules": [rule]}),
        )
    )
    kms.create_application_access_point(
        km.CreateApplicationAccessPointRequest(
            name=aap, authentication_method="ClientKey", policies=json.dumps([policy])
        )
    )
    made = kms.create_client_key(km.CreateClientKeyRequest(aap_name=aap, password=PASSWORD)).body
    content = json.dumps({"KeyId": made.client_key_id, "PrivateKeyData": made.private_key_data})
    return Access(rule, policy, aap, str(made.client_key_id), content)


def instance_config(server: ServerProcess, access: Access, **extra: Any) -> dict[str, Any]:
    """The instance SDK Config of the documented set-up: HTTPS, Mamori's CA file."""
    return {
        "endpoint": server.tls_endpoint,
        "protocol": "https",
        "ca_file": str(server.ca_file),
        "client_key_content": access.content,
        "password": access.password,
        **extra,
    }


def openapi_config(server: ServerProcess) -> dict[str, Any]:
    """The OpenAPI Config for the shared gateway (administrator's AccessKey, HTTPS + CA)."""
    return {
        "access_key_id": server.access_key_id,
        "access_key_secret": server.access_key_secret,
        "endpoint": server.tls_endpoint,
        "protocol": "https",
        "ca": str(server.ca_file),
    }


@dataclass
class SdkApp:
    """One official client in its own process; ``call`` makes one SDK call there."""

    python: Path
    setup: dict[str, Any]
    proc: subprocess.Popen[str] | None = field(default=None, init=False)

    def __enter__(self) -> SdkApp:
        self.proc = subprocess.Popen(
            # -I: the driver's own folder (tests/compat, with a sdk.py) must not shadow the SDK's
            # ``sdk`` package.
            [str(self.python), "-I", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._send(self.setup) == {"ready": True}
        return self

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], ANSWER_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        if not line:
            proc.kill()
            assert proc.stderr is not None
            pytest.fail(f"SDK driver gave no answer:\n{proc.stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, method: str, request: str, models: str = "sdk", **spec: Any) -> dict[str, Any]:
        """One SDK call: ``{"response": …}`` or ``{"error": …}``."""
        return self._send({"method": method, "request": request, "models": models, **spec})

    def ok(self, method: str, request: str, models: str = "sdk", **spec: Any) -> dict[str, Any]:
        """One SDK call that must succeed; its response map."""
        answer = self.call(method, request, models, **spec)
        assert "response" in answer, answer
        response: dict[str, Any] = answer["response"]
        return response

    def fails(
        self, code: str, status: int, method: str, request: str, **spec: Any
    ) -> dict[str, Any]:
        """One SDK call that must raise this code, with this HTTP status."""
        answer = self.call(method, request, **spec)
        assert "error" in answer, answer
        error: dict[str, Any] = answer["error"]
        assert (error["code"], error["data"].get("httpCode")) == (code, status), error
        return error


def body_bytes(value: Any) -> bytes:
    """A bytes field of a response map."""
    import base64

    assert isinstance(value, dict) and "b64" in value, value
    return base64.b64decode(value["b64"])
