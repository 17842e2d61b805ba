"""The console's audit records: every POST is one record, durable before its answer; a secret
reveal is exactly one record naming the secret and version shown, never the value; a failed
sign-in names the AccessKey id tried, never the secret. And the audit trail page: only for the
administrator or a principal allowed ``mamori:ReadAuditTrail``, filtered, escaped."""

from __future__ import annotations

import base64
import html
import json
import uuid
from pathlib import Path
from typing import Any

from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient

from tests.audit.helpers import find, verified
from tests.compat.ram_helpers import unique
from tests.conftest import ServerProcess, sqlite_server
from tests.gateway.console.conftest import (
    Identity,
    https_client,
    post_sign_in,
    ram_user,
    sign_in,
)


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


def _rows(page: str) -> list[str]:
    """The request ids of the audit trail's rows, top to bottom."""
    return [
        part.split('"', 1)[0] for part in page.split('<tr data-request-id="')[1:] if part[0] != '"'
    ]


def test_the_administrator_sees_an_sdk_encrypt_newest_first(
    console_server: ServerProcess, admin: Identity, admin_kms: Any
) -> None:
    key_id = admin_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    plaintext = base64.b64encode(b"audit-page").decode()
    first = admin_kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext=plaintext)).body
    second = admin_kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext=plaintext)).body
    client, _ = sign_in(console_server, admin)

    page = client.get("/console/audit", params={"action": "Encrypt", "key": key_id})
    assert page.status_code == 200, page.text
    assert 'id="nav-audit"' in page.text
    assert _rows(page.text) == [second.request_id, first.request_id]
    assert f":key/{key_id}</code>" in page.text
    assert "<td>Encrypt</td>" in page.text and "<td>Success</td>" in page.text
    assert "<td>acs:ram::1234567890123456:root</td>" in page.text
    assert first.ciphertext_blob not in page.text

    created = client.get("/console/audit", params={"action": "CreateKey", "key": key_id})
    assert len(_rows(created.text)) == 1
    later = client.get("/console/audit", params={"key": key_id, "since": "2999-01-01"})
    assert _rows(later.text) == [] and "No matching request." in later.text


def test_a_crypto_user_is_refused_the_trail_and_not_shown_the_link(
    console_server: ServerProcess, crypto_user: Identity
) -> None:
    client, _ = sign_in(console_server, crypto_user)
    keys = client.get("/console/keys")
    assert keys.status_code == 200 and "/console/audit" not in keys.text
    refused = client.get("/console/audit")
    assert refused.status_code == 403
    assert '<code class="code">Forbidden.NoPermission</code>' in refused.text
    assert "mamori:ReadAuditTrail" in refused.text
    assert 'id="audit"' not in refused.text


def test_a_ram_user_allowed_read_audit_trail_sees_it(
    console_server: ServerProcess, admin_ram: RamClient
) -> None:
    policy = unique("audit-reader")
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "mamori:ReadAuditTrail", "Resource": "*"}],
    }
    admin_ram.create_policy(
        rm.CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(document))
    )
    reader = ram_user(admin_ram)
    admin_ram.attach_policy_to_user(
        rm.AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=policy, user_name=reader.name
        )
    )
    client, _ = sign_in(console_server, reader)
    page = client.get("/console/audit", params={"principal": reader.access_key_id})
    assert page.status_code == 200 and 'id="nav-audit"' in page.text
    # The sign-in it made is on its own trail.
    assert "<td>Console:/sign-in</td>" in page.text


def test_filters_are_bounded_escaped_and_bad_times_refused(
    console_server: ServerProcess, admin: Identity
) -> None:
    client, _ = sign_in(console_server, admin)
    hostile = '<script>alert("x")</script>'
    page = client.get("/console/audit", params={"action": hostile})
    assert page.status_code == 200
    assert hostile not in page.text and html.escape(hostile).replace("&quot;", "&#34;") in page.text

    bad_time = client.get("/console/audit", params={"since": "yesterday", "action": "Encrypt"})
    assert bad_time.status_code == 400
    assert '<code class="code">InvalidParameter</code>' in bad_time.text
    assert "since" in bad_time.text and 'value="Encrypt"' in bad_time.text

    too_long = client.get("/console/audit", params={"principal": "a" * 257})
    assert too_long.status_code == 400
    assert '<code class="code">InvalidParameter</code>' in too_long.text


def test_reading_the_trail_records_nothing(console_server: ServerProcess, admin: Identity) -> None:
    client, _ = sign_in(console_server, admin)
    marker = f"Marker{uuid.uuid4().hex[:8]}"
    assert client.get("/console/audit", params={"action": marker}).status_code == 200
    raw = b"".join(p.read_bytes() for p in (console_server.data_dir / "audit").rglob("*.jsonl"))
    assert marker.encode() not in raw


def test_with_the_audit_log_off_the_page_says_so(tmp_path: Path) -> None:
    server = sqlite_server(tmp_path, env={"MAMORI_AUDIT": "off"})
    server.start()
    try:
        admin = Identity("root", server.access_key_id, server.access_key_secret)
        client, _ = sign_in(server, admin)
        page = client.get("/console/audit")
        assert page.status_code == 200 and 'id="audit-off"' in page.text
        assert 'id="audit"' not in page.text
    finally:
        server.stop()


def test_a_linked_chain_is_an_error_on_the_page_not_a_hang(tmp_path: Path) -> None:
    """A chain directory that is a symbolic link (or a FIFO segment) is refused by every
    reader of the trail (``mamori.audit.chain``): the page answers InternalFailure and the
    server log names the path."""
    server = sqlite_server(tmp_path)
    server.start()
    try:
        admin = Identity("root", server.access_key_id, server.access_key_secret)
        client, _ = sign_in(server, admin)
        audit = server.data_dir / "audit"
        (audit / "elsewhere").symlink_to(tmp_path)
        page = client.get("/console/audit", timeout=20)
        assert page.status_code == 500, page.text
        assert "InternalFailure" in page.text
    finally:
        server.stop()
    assert "cannot read the audit trail" in server.log_path.read_text()
