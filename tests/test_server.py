"""The ``mamori server`` process: first start, restart, background jobs, graceful stop."""

from __future__ import annotations

import base64
import configparser
import time

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_tea_openapi.exceptions import ClientException
from sqlalchemy import create_engine, update

from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess


def _client(server: ServerProcess):  # type: ignore[no-untyped-def]
    return new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)


def test_first_start_writes_alibaba_credentials_file(fresh_server: ServerProcess) -> None:
    ini = configparser.ConfigParser()
    ini.read(fresh_server.data_dir / "admin.credentials")
    assert ini["default"]["type"] == "access_key"
    assert ini["default"]["access_key_id"] == fresh_server.access_key_id
    assert len(ini["default"]["access_key_secret"]) >= 30
    assert (fresh_server.data_dir / "root.key").stat().st_size == 32
    assert (fresh_server.data_dir / "tls" / "ca.pem").exists()


def test_restart_keeps_keys_credentials_and_ciphertexts(fresh_server: ServerProcess) -> None:
    kms = _client(fresh_server)
    key_id = kms.create_key(km.CreateKeyRequest(description="survives")).body.key_metadata.key_id
    kms.create_alias(km.CreateAliasRequest(alias_name="alias/survivor", key_id=key_id))
    blob = kms.encrypt(
        km.EncryptRequest(
            key_id="alias/survivor",
            plaintext=base64.b64encode(b"persisted").decode(),
            encryption_context={"app": "restart"},
        )
    ).body.ciphertext_blob
    first_key = fresh_server.access_key_id
    root_key = (fresh_server.data_dir / "root.key").read_bytes()
    ca = fresh_server.ca_file.read_bytes()

    fresh_server.restart()

    assert fresh_server.access_key_id == first_key
    assert (fresh_server.data_dir / "root.key").read_bytes() == root_key
    assert fresh_server.ca_file.read_bytes() == ca
    kms = _client(fresh_server)
    plain = kms.decrypt(
        km.DecryptRequest(ciphertext_blob=blob, encryption_context={"app": "restart"})
    ).body.plaintext
    assert base64.b64decode(plain) == b"persisted"
    meta = kms.describe_key(km.DescribeKeyRequest(key_id="alias/survivor")).body.key_metadata
    assert (meta.key_id, meta.description) == (key_id, "survives")


def _set_key_times(server: ServerProcess, key_id: str, **values: int) -> None:
    engine = create_engine(normalize_url(server.store_url))
    with engine.begin() as conn:
        conn.execute(update(t.keys).where(t.keys.c.id == key_id).values(**values))
    engine.dispose()


def _eventually(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except ClientException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_the_server_deletes_a_key_when_its_window_has_passed(fresh_server: ServerProcess) -> None:
    kms = _client(fresh_server)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    # Seven days are too long to wait: move the deletion date into the past in the store.
    _set_key_times(fresh_server, key_id, delete_at=int(time.time()) - 1)

    def gone() -> bool:
        try:
            kms.describe_key(km.DescribeKeyRequest(key_id=key_id))
        except ClientException as exc:
            return bool(exc.code == "Forbidden.KeyNotFound")
        return False

    _eventually(gone)


def test_the_server_rotates_a_key_when_rotation_is_due(fresh_server: ServerProcess) -> None:
    kms = _client(fresh_server)
    meta = kms.create_key(
        km.CreateKeyRequest(enable_automatic_rotation=True, rotation_interval="7d")
    ).body.key_metadata
    assert meta.rotation_interval == "604800s"
    blob = kms.encrypt(
        km.EncryptRequest(key_id=meta.key_id, plaintext=base64.b64encode(b"v1").decode())
    ).body.ciphertext_blob
    _set_key_times(fresh_server, meta.key_id, next_rotation_at=int(time.time()) - 1)

    def rotated() -> bool:
        now = kms.describe_key(km.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
        return bool(now.primary_key_version != meta.primary_key_version)

    _eventually(rotated)
    versions = kms.list_key_versions(km.ListKeyVersionsRequest(key_id=meta.key_id)).body
    assert versions.total_count == 2
    plain = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.plaintext
    assert base64.b64decode(plain) == b"v1"


def test_sigterm_stops_gracefully(fresh_server: ServerProcess) -> None:
    assert fresh_server.process is not None
    assert httpx.get(f"http://{fresh_server.endpoint}/health").status_code == 200
    assert fresh_server.stop() == 0
    assert "mamori stopped cleanly" in fresh_server.log_path.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{fresh_server.endpoint}/health", timeout=1)
