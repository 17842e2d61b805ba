"""Every request of the shared gateway leaves one record, refused ones included, with who, what,
from where and how it ended; the records are found again with ``mamori audit``. Driven by the
official SDKs against a real server; read back with the real CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm

from tests.audit.helpers import audit_cli, find, verified, wait_for
from tests.compat.ram_helpers import new_user
from tests.compat.sdk import expect_error, new_sdk, ram_sdk
from tests.conftest import ServerProcess, free_port

ACCOUNT = "1234567890123456"
ROOT = f"acs:ram::{ACCOUNT}:root"


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own (the audit log is the same on either store: SQLite)."""
    tmp = tmp_path_factory.mktemp("audit")
    proc = ServerProcess(
        "sqlite", tmp / "data", f"sqlite:///{tmp / 'data' / 'mamori.db'}", free_port(), free_port()
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def kms(audited: ServerProcess) -> Client:
    return new_sdk(audited.endpoint, audited.access_key_id, audited.access_key_secret)


def _one(data_dir: Path, *criteria: str) -> dict[str, object]:
    found = wait_for(data_dir, *criteria)
    assert len(found) == 1, found
    return found[0]


def test_an_encrypt_and_its_decrypt_are_recorded_with_the_key_and_version(
    audited: ServerProcess, kms: Client
) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    plaintext = b"audit-plaintext-" + base64.b16encode(key_id.encode())
    sealed = kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(plaintext).decode())
    ).body
    kms.decrypt(km.DecryptRequest(ciphertext_blob=sealed.ciphertext_blob))

    arn = f"acs:kms:cn-hangzhou:{ACCOUNT}:key/{key_id}"
    encrypt = _one(audited.data_dir, "--key", key_id, "--action", "Encrypt")
    assert encrypt["request_id"] == sealed.request_id
    assert {k: encrypt[k] for k in _FIXED} == {
        "type": "request",
        "gateway": "pop",
        "action": "Encrypt",
        "version": "2016-01-20",
        "account": ACCOUNT,
        "principal": ROOT,
        "access_key_id": audited.access_key_id,
        "source_ip": "127.0.0.1",
        "tls": False,
        "resources": [arn],
        "key_version_id": sealed.key_version_id,
        "secret_version_id": None,
        "result": "Success",
        "status": 200,
    }
    assert encrypt["time"].endswith("Z") and float(encrypt["latency_ms"]) > 0
    decrypt = _one(audited.data_dir, "--key", key_id, "--action", "Decrypt")
    assert (decrypt["resources"], decrypt["key_version_id"]) == ([arn], sealed.key_version_id)
    created = _one(audited.data_dir, "--key", key_id, "--action", "CreateKey")
    assert created["result"] == "Success"

    # Neither the plaintext nor the ciphertext is in any audit file.
    raw = b"".join(p.read_bytes() for p in (audited.data_dir / "audit").rglob("*.jsonl"))
    for needle in (plaintext, base64.b64encode(plaintext), sealed.ciphertext_blob.encode()):
        assert needle not in raw


_FIXED = (
    "type",
    "gateway",
    "action",
    "version",
    "account",
    "principal",
    "access_key_id",
    "source_ip",
    "tls",
    "resources",
    "key_version_id",
    "secret_version_id",
    "result",
    "status",
)


def test_refused_requests_are_recorded_with_their_code(audited: ServerProcess, kms: Client) -> None:
    # A wrong secret: the AccessKey id is known, no principal is.
    forged = new_sdk(audited.endpoint, audited.access_key_id, "not-the-secret")
    expect_error("SignatureDoesNotMatch", 400, lambda: forged.describe_regions())
    refused = find(audited.data_dir, "--result", "SignatureDoesNotMatch")
    assert refused and refused[-1]["access_key_id"] == audited.access_key_id
    assert (refused[-1]["principal"], refused[-1]["status"]) == ("", 400)

    # A RAM user with no policy: refused by authorization, recorded with the user's ARN.
    ram = ram_sdk(audited.endpoint, audited.access_key_id, audited.access_key_secret)
    user = new_user(audited, ram)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ==")),
    )
    denied = _one(audited.data_dir, "--key", key_id, "--principal", user.arn)
    assert (denied["action"], denied["result"], denied["status"]) == (
        "Encrypt",
        "Forbidden.NoPermission",
        403,
    )


def test_secrets_are_recorded_by_name_and_version_never_by_value(
    audited: ServerProcess, kms: Client
) -> None:
    value = "audit-secret-value-" + datetime.now(UTC).isoformat()
    kms.create_secret(
        km.CreateSecretRequest(secret_name="audit/db", secret_data=value, version_id="v1")
    )
    got = kms.get_secret_value(km.GetSecretValueRequest(secret_name="audit/db")).body
    assert got.secret_data == value
    read = _one(audited.data_dir, "--secret", "audit/db", "--action", "GetSecretValue")
    assert read["resources"] == [f"acs:kms:cn-hangzhou:{ACCOUNT}:secret/audit/db"]
    assert (read["secret_version_id"], read["request_id"]) == ("v1", got.request_id)
    raw = b"".join(p.read_bytes() for p in (audited.data_dir / "audit").rglob("*.jsonl"))
    assert value.encode() not in raw
    assert audited.access_key_secret.encode() not in raw


def test_https_requests_and_ram_actions_are_recorded(audited: ServerProcess) -> None:
    admin = (audited.access_key_id, audited.access_key_secret)
    user = new_user(audited, ram_sdk(audited.endpoint, *admin))
    over_tls = ram_sdk(audited.tls_endpoint, *admin, protocol="https", ca=str(audited.ca_file))
    over_tls.get_user(rm.GetUserRequest(user_name=user.name))
    record = _one(audited.data_dir, "--action", "GetUser", "--principal", audited.access_key_id)
    assert (record["tls"], record["version"], record["result"]) == (True, "2015-05-01", "Success")


def test_search_tail_and_export_by_time(audited: ServerProcess, kms: Client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    for _ in range(3):
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
    after = datetime.now(UTC) + timedelta(seconds=1)
    window = ("--since", before.isoformat(), "--until", after.isoformat())
    assert len(find(audited.data_dir, "--key", key_id, *window)) == 4
    assert find(audited.data_dir, "--key", key_id, "--until", before.isoformat()) == []

    tail = audit_cli(audited.data_dir, "tail", "-n", "2", "--key", key_id, "--json")
    assert [json.loads(line)["action"] for line in tail.stdout.splitlines()] == [
        "Encrypt",
        "Encrypt",
    ]
    table = audit_cli(audited.data_dir, "tail", "-n", "1", "--key", key_id)
    assert table.returncode == 0 and "Encrypt" in table.stdout and "Success" in table.stdout

    out = audited.data_dir.parent / "export.jsonl"
    done = audit_cli(audited.data_dir, "export", *window, "--output", str(out))
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(1 for r in exported if f"key/{key_id}" in "".join(r["resources"])) == 4
    assert all({"chain", "seq", "prev"} <= r.keys() for r in exported)
    bad = audit_cli(audited.data_dir, "search", "--since", "last tuesday")
    assert bad.returncode == 2
    assert "OK" in verified(audited.data_dir)


def test_an_id_and_secret_swapped_leave_no_secret_in_the_trail(audited: ServerProcess) -> None:
    """A configuration with the AccessKey id and secret swapped sends the secret as the id:
    the record keeps only a fingerprint of a claimed id not shaped like one Mamori issues."""
    swapped = new_sdk(audited.endpoint, audited.access_key_secret, audited.access_key_id)
    expect_error("InvalidAccessKeyId.NotFound", 404, lambda: swapped.describe_regions())
    refused = wait_for(audited.data_dir, "--result", "InvalidAccessKeyId.NotFound")
    assert refused[-1]["access_key_id"].startswith("unrecognised:"), refused[-1]
    assert len(refused[-1]["access_key_id"]) == len("unrecognised:") + 16
    for segment in (audited.data_dir / "audit").rglob("*.jsonl"):
        assert audited.access_key_secret.encode() not in segment.read_bytes()


def test_distinct_huge_action_names_do_not_grow_the_encoder() -> None:
    """Unauthenticated requests choose the Action; the encoder's cache of encoded callers
    keys on it, so it must key on the cut value (a review grew a worker by 170 MB)."""
    import tracemalloc

    from mamori.audit import Encoder, Event

    encoder = Encoder("node", "cn-hangzhou")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(2000):
            event = Event("pop", f"REQ-{n}", "127.0.0.1", False)
            event.action = f"{n:05d}" + "A" * 20_000
            event.code, event.status = "SignatureDoesNotMatch", 400
            encoder.body(event)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 8_000_000, grown
