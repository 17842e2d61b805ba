"""The audit tests' shared fixture: a chain written by a real server, for tests that then
doctor its files by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as km

from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess, sqlite_server


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that wrote a few segments (4 KiB each) of Encrypt records, then stopped."""
    proc = sqlite_server(tmp_path, env={"MAMORI_AUDIT_SEGMENT_BYTES": "4096"})
    proc.start()
    try:
        kms = new_sdk(proc.endpoint, proc.access_key_id, proc.access_key_secret)
        key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        for _ in range(30):
            kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
        assert proc.stop() == 0
        yield proc
    finally:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()
