"""Attacks on ``ProtectionLevel=HSM`` keys, replayed against a real server whose keys live in a
SoftHSM2 token (tests/hsm/conftest.py). docs/security.md, "HSM keys", lists them."""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from Tea.exceptions import TeaException

from tests.compat.sdk import b64, new_sdk
from tests.conftest import ServerProcess
from tests.hsm.conftest import hsm_kms, hsm_server, softhsm

__all__ = ["hsm_kms", "hsm_server", "softhsm"]

DIGEST = hashlib.sha256(b"flood").digest()


def _median_ms(call: Callable[[], object], n: int = 40) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _flooded(
    server: ServerProcess, key: str, version: str, measure: Callable[[], float]
) -> tuple[float, Counter[str]]:
    """``measure()`` while 16 callers sign with ``key`` as fast as they are answered; and the
    codes the flood got."""
    stop = threading.Event()
    codes: Counter[str] = Counter()

    def sign() -> None:
        kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
        request = km.AsymmetricSignRequest(
            key_id=key, key_version_id=version, algorithm="RSA_PSS_SHA_256", digest=b64(DIGEST)
        )
        while not stop.is_set():
            try:
                kms.asymmetric_sign(request)
                codes["OK"] += 1
            except TeaException as exc:
                codes[f"{exc.code} {exc.statusCode}"] += 1

    threads = [threading.Thread(target=sign) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        return measure(), codes
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_a_flood_of_slow_hsm_signatures_does_not_stall_other_keys(
    hsm_kms: Client, hsm_server: ServerProcess
) -> None:
    """16 callers signing with an HSM RSA_4096 key (~20 ms a signature on SoftHSM2): the
    signatures ran on the event loop (AsymmetricSign is an inline action), so every request of
    the worker waited behind the device: a software key's Encrypt + DescribeKey took 620 ms
    median (under a software RSA_4096 flood of the same size, 187 ms; now 7.5). Inline actions whose
    key is in a token now run on threads of their own: neither the loop nor the API's pool
    waits for the device."""
    software = hsm_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    encrypt = km.EncryptRequest(key_id=software, plaintext=b64(b"x"))
    describe = km.DescribeKeyRequest(key_id=software)

    def measure() -> float:
        # Encrypt runs on the event loop, DescribeKey on a worker thread.
        return _median_ms(lambda: (hsm_kms.encrypt(encrypt), hsm_kms.describe_key(describe)))

    def rsa_4096(protection: str) -> tuple[str, str]:
        request = km.CreateKeyRequest(
            key_spec="RSA_4096", key_usage="SIGN/VERIFY", protection_level=protection
        )
        meta = hsm_kms.create_key(request).body.key_metadata
        return str(meta.key_id), str(meta.primary_key_version)

    in_software, _ = _flooded(hsm_server, *rsa_4096("SOFTWARE"), measure)
    in_token, codes = _flooded(hsm_server, *rsa_4096("HSM"), measure)
    print(f"Encrypt + DescribeKey median: software flood {in_software:.1f} ms, HSM {in_token:.1f}")
    print(dict(codes))
    assert set(codes) == {"OK"}, codes  # the flood is served, only not ahead of others
    assert in_token < 2 * in_software + 20, (in_token, in_software)
