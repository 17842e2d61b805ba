"""``--workers 2``: each worker process writes a chain of its own (``<node>-w0``, ``<node>-w1``),
each verifies, and every request is recorded exactly once; ``/metrics`` adds up both workers."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from alibabacloud_kms20160120 import models as km
from prometheus_client.parser import text_string_to_metric_families

from tests.audit.helpers import find, verified
from tests.compat.sdk import new_sdk
from tests.conftest import sqlite_server

CLIENTS = 12
CALLS = 10


def _encrypt_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "mamori_requests":
            return sum(
                sample.value
                for sample in family.samples
                if sample.name == "mamori_requests_total"
                and sample.labels == {"gateway": "pop", "action": "Encrypt", "code": "Success"}
            )
    return 0.0


def test_each_worker_writes_its_own_verifying_chain(tmp_path: Path) -> None:
    server = sqlite_server(tmp_path, env={"MAMORI_WORKERS": "2"})
    server.start()
    request_ids: list[str] = []
    try:
        admin = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = admin.create_key(km.CreateKeyRequest()).body.key_metadata.key_id

        def work() -> None:
            # A client of its own: its own connection, which the kernel gives either worker.
            kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
            for _ in range(CALLS):
                answer = kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
                request_ids.append(answer.body.request_id)

        threads = [threading.Thread(target=work) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(request_ids) == CLIENTS * CALLS
        metrics = httpx.get(f"http://{server.endpoint}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert _encrypt_count(metrics.text) == CLIENTS * CALLS
    finally:
        assert server.stop() == 0

    chains = sorted(p.name for p in (server.data_dir / "audit").iterdir() if p.is_dir())
    assert len(chains) == 2 and chains[0].endswith("-w0") and chains[1].endswith("-w1")
    out = verified(server.data_dir)
    # One audit key for the deployment: both workers' chains check under it.
    assert out.count(": OK,") == out.count("MACs checked") == 2
    records = find(server.data_dir, "--key", key_id, "--action", "Encrypt")
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)) == CLIENTS * CALLS
    assert set(ids) == set(request_ids)
    assert {r["chain"] for r in records} == set(chains)  # both workers served
