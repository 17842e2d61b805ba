"""Fail-closed: when a record cannot be written the request is refused with
``Rejected.AuditUnavailable`` (503), later requests are refused before they act, and /health and
/ready say so; a read-only audit dir stops the start (exit 8). ``audit = "off"`` is said loudly.
A real server on a small tmpfs (mounting needs root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from sqlalchemy import create_engine, func, select

from mamori.store import schema as t
from tests.audit.helpers import verified
from tests.compat.sdk import expect_error, new_sdk
from tests.conftest import ServerProcess, sqlite_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")


@pytest.fixture
def small_audit_dir(tmp_path: Path) -> Iterator[Path]:
    """``<data>/audit`` on a 1 MiB tmpfs of its own."""
    audit = tmp_path / "data" / "audit"
    audit.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(audit)], check=True
    )
    try:
        yield audit
    finally:
        subprocess.run(["umount", "-l", str(audit)], check=False)


def _server(tmp_path: Path, **env: str) -> ServerProcess:
    return sqlite_server(tmp_path, env=env)


def _keys(server: ServerProcess) -> int:
    engine = create_engine(server.store_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(t.keys)).scalar_one()
    engine.dispose()
    return int(count)


def test_a_full_audit_disk_refuses_requests_before_they_act(
    tmp_path: Path, small_audit_dir: Path
) -> None:
    server = _server(tmp_path)
    server.start()
    try:
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        filler = small_audit_dir / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        # What is left of the segment's last page takes a few records; then the disk is full.
        for _ in range(200):
            try:
                kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
            except AlibabaCloudException as exc:
                assert (exc.code, exc.status_code) == ("Rejected.AuditUnavailable", 503), exc
                break
        else:
            pytest.fail("the audit disk never filled")

        keys = _keys(server)
        expect_error(
            "Rejected.AuditUnavailable", 503, lambda: kms.create_key(km.CreateKeyRequest())
        )
        assert _keys(server) == keys  # refused before it acted
        health = httpx.get(f"http://{server.endpoint}/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["Audit"].startswith("unavailable: cannot write")
        ready = httpx.get(f"http://{server.endpoint}/ready", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["Status"] == "unavailable"
        assert ready.json()["Store"] == "ok"

        # Room again and a restart: the chain, torn record and all, still verifies.
        filler.unlink()
        server.restart()
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
        assert httpx.get(f"http://{server.endpoint}/ready", timeout=5).status_code == 200
    finally:
        server.stop()
    verified(server.data_dir)


def test_a_read_only_audit_dir_stops_the_start(tmp_path: Path, small_audit_dir: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_audit_dir)], check=True)
    server = _server(tmp_path)
    with pytest.raises(RuntimeError, match="mamori server exited"):
        server.start()
    assert server.process is not None and server.process.returncode == 8
    line = server.log_path.read_text().strip().splitlines()[-1]
    assert line == (
        f"mamori: cannot start: audit: {small_audit_dir} cannot take audit records "
        "(Read-only file system)"
    )


def test_audit_off_is_said_loudly_and_records_nothing(tmp_path: Path) -> None:
    server = _server(tmp_path, MAMORI_AUDIT="off")
    server.start()
    try:
        new_sdk(server.endpoint, server.access_key_id, server.access_key_secret).describe_regions()
        assert httpx.get(f"http://{server.endpoint}/health", timeout=5).json()["Audit"] == "off"
        assert httpx.get(f"http://{server.endpoint}/ready", timeout=5).status_code == 200
    finally:
        server.stop()
    assert "AUDIT IS OFF" in server.log_path.read_text()
    assert not list((server.data_dir / "audit").rglob("*.jsonl"))
