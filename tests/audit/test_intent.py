"""Intent records (docs/audit.md): a request that changes state acts only once its intent
record is durable. The request whose intent meets a failing audit disk is answered
``Rejected.AuditUnavailable`` (503) and has done nothing; read-only requests write no intent.

The fault is placed exactly: the chain is padded with refused requests (whose records carry an
AccessKeyId of a chosen length) until a few bytes are left in its last page, then the rest of
the small tmpfs is filled, so the very next record — the state-changing request's intent — is
the one that cannot be written. A real server on a small tmpfs (mounting needs root)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from sqlalchemy import Table, create_engine, func, select

from mamori.store import schema as t
from tests.audit.helpers import find, verified
from tests.audit.test_fail_closed import _server, small_audit_dir
from tests.compat.sdk import expect_error, new_sdk, ram_sdk
from tests.conftest import ServerProcess
from tests.gateway.console.conftest import Identity, sign_in

__all__ = ["small_audit_dir"]  # the fixture, shared with test_fail_closed

# Mounting the small tmpfs needs root (as in test_fail_closed).
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")

_PAGE = 4096
# The fault lands when this few bytes are left in the segment's last page: less than any record.
_LEFT = range(4, 13)


def _rows(server: ServerProcess, table: Table) -> int:
    engine = create_engine(server.store_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(count)


def _segment(audit_dir: Path) -> Path:
    (segment,) = [p for p in audit_dir.rglob("*.jsonl")]  # one worker: one chain, one segment
    return segment


def _pad(server: ServerProcess, length: int) -> None:
    """One refused request whose record carries an AccessKeyId ``length`` + 4 characters long
    (shaped like one Mamori issues, so the record holds it as sent)."""
    client = new_sdk(server.endpoint, "LTAI" + "P" * length, "not-a-secret")
    with pytest.raises(AlibabaCloudException):
        client.describe_regions()


def _leave_a_few_bytes(server: ServerProcess, audit_dir: Path) -> None:
    """Pad the chain until only ``_LEFT`` bytes are left in its segment's last page."""
    segment = _segment(audit_dir)
    before = segment.stat().st_size
    _pad(server, 1)
    base = segment.stat().st_size - before  # a padding record with a 1-character id
    for _ in range(100):
        left = -segment.stat().st_size % _PAGE
        if left in _LEFT:
            return
        need = left - 8
        if base <= need < base + 240:
            _pad(server, need - base + 1)
        else:
            _pad(server, 240)  # on into the next page, to try from there
    pytest.fail("could not place the fault")


def _fill(audit_dir: Path) -> Path:
    filler = audit_dir / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left"):
            while True:
                os.write(fd, b"\0" * _PAGE)
    finally:
        os.close(fd)
    return filler


def _create_key(server: ServerProcess) -> Any:
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    return kms.create_key(km.CreateKeyRequest(description="intent"))


def _create_secret(server: ServerProcess) -> Any:
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    return kms.create_secret(
        km.CreateSecretRequest(secret_name="s-intent", secret_data="d", version_id="v1")
    )


def _put_secret_value(server: ServerProcess) -> Any:
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    return kms.put_secret_value(
        km.PutSecretValueRequest(secret_name="s-ready", secret_data="d2", version_id="v2")
    )


def _create_user(server: ServerProcess) -> Any:
    ram = ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    return ram.create_user(rm.CreateUserRequest(user_name="u-intent"))


_ACTS: dict[str, tuple[Callable[[ServerProcess], Any], Table]] = {
    "CreateKey": (_create_key, t.keys),
    "CreateSecret": (_create_secret, t.secrets),
    "PutSecretValue": (_put_secret_value, t.secret_versions),
    "CreateUser": (_create_user, t.ram_users),
}


@needs_root
@pytest.mark.parametrize("action", sorted(_ACTS))
def test_a_write_whose_intent_cannot_be_recorded_does_nothing(
    tmp_path: Path, small_audit_dir: Path, action: str
) -> None:
    act, table = _ACTS[action]
    server = _server(tmp_path)
    server.start()
    try:
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        kms.create_secret(
            km.CreateSecretRequest(secret_name="s-ready", secret_data="d", version_id="v1")
        )
        _leave_a_few_bytes(server, small_audit_dir)
        filler = _fill(small_audit_dir)
        rows = _rows(server, table)

        expect_error("Rejected.AuditUnavailable", 503, lambda: act(server))

        assert _rows(server, table) == rows  # it did nothing
        filler.unlink()
        server.restart()
        assert _rows(server, table) == rows  # nor after a restart
    finally:
        server.stop()
    verified(server.data_dir)
    # The refused request left no record that could be read as its act: every intent that is
    # there is an earlier request's, and came out a success.
    found = find(server.data_dir, "--action", action)
    intents = [r["request_id"] for r in found if r["type"] == "intent"]
    assert intents == [r["request_id"] for r in found if r["result"] == "Success"]


def test_an_intent_record_precedes_the_outcome_and_encrypt_writes_none(
    tmp_path: Path,
) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        key_id = _create_key(server).body.key_metadata.key_id
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
    finally:
        server.stop()
    verified(server.data_dir)
    intent, outcome = find(server.data_dir, "--action", "CreateKey")
    assert intent["request_id"] == outcome["request_id"]
    assert intent["seq"] < outcome["seq"]
    assert (intent["type"], intent["result"], intent["status"]) == ("intent", None, None)
    assert intent["latency_ms"] is None
    assert (outcome["type"], outcome["result"], outcome["status"]) == ("request", "Success", 200)
    for same in ("action", "version", "principal", "access_key_id", "source_ip", "tls"):
        assert intent[same] == outcome[same], same
    assert intent["resources"] == []  # the key does not exist yet
    assert outcome["resources"][0].endswith(f":key/{key_id}")
    (encrypt,) = find(server.data_dir, "--action", "Encrypt")
    assert encrypt["type"] == "request"


@needs_root
def test_a_console_change_whose_intent_cannot_be_recorded_does_nothing(
    tmp_path: Path, small_audit_dir: Path
) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        admin = Identity("root", server.access_key_id, server.access_key_secret)
        client, csrf = sign_in(server, admin)
        _leave_a_few_bytes(server, small_audit_dir)
        filler = _fill(small_audit_dir)
        keys = _rows(server, t.keys)

        answer = client.post(
            "/console/keys", data={"csrf": csrf, "KeySpec": "Aliyun_AES_256", "Description": "c"}
        )
        assert answer.status_code == 503
        assert "Rejected.AuditUnavailable" in answer.text

        assert _rows(server, t.keys) == keys
        filler.unlink()
        server.restart()
        assert _rows(server, t.keys) == keys
    finally:
        server.stop()
    verified(server.data_dir)
