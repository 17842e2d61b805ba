"""The console's audit records: every POST is one record, durable before its answer; a secret
reveal is exactly one record naming the secret and version shown, never the value; a failed
sign-in names the AccessKey id tried, never the secret."""

from __future__ import annotations

import uuid
from typing import Any

from alibabacloud_kms20160120 import models as km

from tests.audit.helpers import find, verified
from tests.conftest import ServerProcess
from tests.gateway.console.conftest import Identity, https_client, post_sign_in, sign_in


def _console(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["gateway"] == "console"]


def test_a_reveal_is_exactly_one_record_and_never_the_value(
    console_server: ServerProcess, admin: Identity, admin_kms: Any
) -> None:
    name = f"audit/reveal-{uuid.uuid4().hex[:8]}"
    value = f"revealed-{uuid.uuid4().hex}"
    admin_kms.create_secret(
        km.CreateSecretRequest(secret_name=name, secret_data=value, version_id="v1")
    )
    client, csrf = sign_in(console_server, admin)
    answer = client.post(
        "/console/secret/reveal", data={"csrf": csrf, "name": name, "VersionId": "v1"}
    )
    assert answer.status_code == 200 and value in answer.text

    records = _console(find(console_server.data_dir, "--secret", name))
    assert len(records) == 1, records
    (reveal,) = records
    assert {k: reveal[k] for k in ("action", "principal", "access_key_id", "tls", "result")} == {
        "action": "RevealSecretValue",
        "principal": "acs:ram::1234567890123456:root",
        "access_key_id": admin.access_key_id,
        "tls": True,
        "result": "Success",
    }
    assert reveal["secret_version_id"] == "v1"
    assert reveal["resources"][0].endswith(f":secret/{name}")
    raw = b"".join(p.read_bytes() for p in (console_server.data_dir / "audit").rglob("*.jsonl"))
    assert value.encode() not in raw
    verified(console_server.data_dir)


def test_state_changes_and_sign_ins_are_recorded(
    console_server: ServerProcess, admin: Identity
) -> None:
    description = f"audit-{uuid.uuid4().hex[:8]}"
    client, csrf = sign_in(console_server, admin)
    made = client.post(
        "/console/keys",
        data={"csrf": csrf, "KeySpec": "Aliyun_AES_256", "Description": description},
    )
    assert made.status_code == 303
    key_id = made.headers["location"].rsplit("/", 1)[1]
    (created,) = _console(find(console_server.data_dir, "--key", key_id))
    assert (created["action"], created["result"]) == ("CreateKey", "Success")

    wrong_secret = f"not-it-{uuid.uuid4().hex}"
    refused = post_sign_in(https_client(console_server), admin.access_key_id, wrong_secret)
    assert refused.status_code >= 400
    failed = [
        r
        for r in _console(find(console_server.data_dir, "--principal", admin.access_key_id))
        if r["action"] == "Console:/sign-in" and r["result"] != "Success"
    ]
    assert failed and failed[-1]["status"] == refused.status_code
    raw = b"".join(p.read_bytes() for p in (console_server.data_dir / "audit").rglob("*.jsonl"))
    assert wrong_secret.encode() not in raw
    assert admin.secret.encode() not in raw
