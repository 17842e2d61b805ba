"""The operator's routes: ``/ready`` apart from ``/health``, and ``/metrics`` in Prometheus text
format, only to the peers ``metrics_allow`` names (loopback by default)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from prometheus_client.parser import text_string_to_metric_families

from tests.compat.instance_helpers import call, generic
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess, sqlite_server


@pytest.fixture
def ops_server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = sqlite_server(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_ready_checks_the_store_the_root_of_trust_and_the_audit_log(
    ops_server: ServerProcess,
) -> None:
    ready = httpx.get(f"http://{ops_server.endpoint}/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"Status": "ready", "Store": "ok", "RootOfTrust": "ok", "Audit": "ok"}


def test_metrics_count_requests_latency_caches_audit_and_jobs(ops_server: ServerProcess) -> None:
    kms = new_sdk(ops_server.endpoint, ops_server.access_key_id, ops_server.access_key_secret)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    for _ in range(5):
        kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
    bad = new_sdk(ops_server.endpoint, ops_server.access_key_id, "wrong")
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        bad.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
    # Action names a request makes up do not become labels (they would grow without bound).
    for made_up in ("MadeUpAction1", "MadeUpAction2"):
        with pytest.raises(Exception, match=r"InvalidAction\.NotFound"):
            call(generic(ops_server), made_up)
    time.sleep(2.5)  # cache counters and job passes are sampled every 2 s
    answer = httpx.get(f"http://{ops_server.endpoint}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(answer.text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    encrypt = {"gateway": "pop", "action": "Encrypt"}
    assert value("mamori_requests_total", code="Success", **encrypt) == 5
    assert value("mamori_requests_total", code="SignatureDoesNotMatch", **encrypt) == 1
    assert value("mamori_request_duration_seconds_count", **encrypt) == 6
    assert value("mamori_request_duration_seconds_bucket", le="+Inf", **encrypt) == 6
    assert value("mamori_cache_hits_total", cache="access_key") >= 5
    assert value("mamori_cache_hits_total", cache="key") >= 4
    assert value("mamori_audit_fsync_seconds_count") >= 1
    assert ("mamori_audit_queue_depth", ()) in samples
    assert value("mamori_audit_available") == 1
    assert value("mamori_background_job_runs_total") >= 1
    assert ("mamori_background_job_failures_total", ()) in samples
    assert ("mamori_throttled_requests_total", (("gateway", "pop"),)) not in samples
    other = {"gateway": "pop", "action": "Other", "code": "InvalidAction.NotFound"}
    assert value("mamori_requests_total", **other) == 2
    assert "MadeUpAction" not in answer.text
    # The operator's own routes are neither counted nor audited.
    assert not any(labels and ("action", "/metrics") in labels for _, labels in samples)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_concurrent_requests_are_each_counted_once(tmp_path: Path, workers: str) -> None:
    """Requests answered together (one audit group commit wakes them in one event-loop tick)
    are folded into the metrics in batches: every one is counted, its latency in exactly one
    bucket, whichever worker answers /metrics."""
    server = sqlite_server(tmp_path, env={"MAMORI_WORKERS": workers})
    server.start()
    try:
        admin = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        key_id = admin.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
        clients, calls = 16, 10
        waited: list[float] = []

        def work() -> None:
            kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
            for _ in range(calls):
                start = time.monotonic()
                kms.encrypt(km.EncryptRequest(key_id=key_id, plaintext="YQ=="))
                waited.append(time.monotonic() - start)

        threads = [threading.Thread(target=work) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(waited) == clients * calls
        answer = httpx.get(f"http://{server.endpoint}/metrics", timeout=10)
        assert answer.status_code == 200
        samples = _samples(answer.text)
    finally:
        assert server.stop() == 0

    encrypt = {"gateway": "pop", "action": "Encrypt"}

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted({**encrypt, **labels}.items()))), 0.0)

    assert value("mamori_requests_total", code="Success") == clients * calls
    assert value("mamori_request_duration_seconds_count") == clients * calls
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == "mamori_request_duration_seconds_bucket" and ("action", "Encrypt") in labels
    )
    assert [le for le, _ in buckets][-1] == float("inf")
    counts = [count for _, count in buckets]
    assert counts == sorted(counts) and counts[-1] == clients * calls  # cumulative
    # Each latency is measured inside the server, so their sum is under the clients' waits.
    assert 0 < value("mamori_request_duration_seconds_sum") < sum(waited)


def test_metrics_are_served_only_to_the_allowed_peers(ops_server: ServerProcess) -> None:
    tls = httpx.get(
        f"https://{ops_server.tls_endpoint}/metrics",
        verify=ssl.create_default_context(cafile=str(ops_server.ca_file)),
        timeout=10,
    )
    assert tls.status_code == 200  # loopback on either listener
    ops_server.stop()
    ops_server.start({"MAMORI_METRICS_ALLOW": "10.0.0.0/8"})
    refused = httpx.get(f"http://{ops_server.endpoint}/metrics", timeout=10)
    assert (refused.status_code, refused.text) == (403, "metrics are not served to this address\n")
    ops_server.stop()
    ops_server.start({"MAMORI_METRICS_ALLOW": ""})
    off = httpx.get(f"http://{ops_server.endpoint}/metrics", timeout=10)
    assert off.status_code == 404
    assert httpx.get(f"http://{ops_server.endpoint}/health", timeout=10).status_code == 200
