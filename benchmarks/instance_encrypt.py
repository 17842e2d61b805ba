"""Instance-API Encrypt (the dedicated gateway, client-key signed, protobuf over HTTPS) against
the same server's shared-gateway Encrypt, in one run; then the throttle holding an instance at
its QPS spec.

One run:

1. starts ``mamori server`` with its HTTPS listener (``encrypt.running_server``) and, with the
   official KMS SDK, makes a KMS instance whose QPS spec is far above the load, an
   ``Aliyun_AES_256`` key in it, and the access an operator gives an application: network rule
   127.0.0.1/32, a ``CryptoServiceKeyUser`` policy on the key, an AAP and a client key
   (``CreateClientKey``);
2. precomputes ``--requests`` instance ``Encrypt`` requests (1 KiB plaintexts), each signed
   with the client key over the SDK's string to sign (``gateway.instance.signature`` builds
   it; tests/gateway/instance/test_signature.py holds it equal to the SDK's), no two alike
   (the plaintext and the ``date`` vary); and the same number of shared-gateway Encrypts of
   the same key, signed as ``encrypt.py`` signs them;
3. replays both with ``wrk`` over the same HTTPS port, A B B A, half the duration each
   (``encrypt.run_wrk``), and checks that every answer was 200 and that sampled ciphertexts
   decrypt (the instance ones through the shared gateway: they are the same blobs);
4. sets the instance's spec to ``--throttle-qps`` (``UpdateKmsInstance``) and replays instance
   Encrypts again at the same closed-loop load: the served rate must stay within ±10% of the
   spec and every other answer be ``Rejected.Throttling`` (429). A paced probe on its own
   connection (``--probe-rate``/s) measures the latency of the requests that were served.

Run: ``.venv/bin/python benchmarks/instance_encrypt.py`` (``--help`` for the knobs). Needs wrk.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import platform
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi import utils_models as openapi_models
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key
from encrypt import (
    PLAINTEXT_POOL,
    Server,
    WrkResult,
    encrypt_workload,
    generate,
    make_load,
    merge,
    read_credentials,
    run_script,
    run_wrk,
    wrk_arguments,
)

from mamori.crypto.client_key import load_client_key_content
from mamori.gateway.instance.signature import string_to_sign
from mamori.wire import instance_api_pb2 as pb

PASSWORD = "Bench-client-key-1"
# The instance's spec during the throughput runs: far above anything 2 cores serve.
UNTHROTTLED_QPS = 1_000_000
API_VERSION = "dkms-gcs-0.2"
USER_AGENT = "AlibabaCloud (Linux; x86_64) Python/3.11 kms-gcs-python-sdk-version/1.0.2"


# --------------------------------------------------------------------------- set-up


def admin_sdk(server: Server) -> Client:
    ak, secret = read_credentials(server.data_dir)
    return Client(
        openapi_models.Config(
            access_key_id=ak, access_key_secret=secret, endpoint=server.endpoint, protocol="http"
        )
    )


def kms_action(client: Client, action: str, **query: Any) -> dict[str, Any]:
    """A KMS action by name (Mamori's instance extensions have no SDK model)."""
    params = openapi_models.Params(
        action=action,
        version="2016-01-20",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = openapi_models.OpenApiRequest(query={k: str(v) for k, v in query.items()})
    from alibabacloud_tea_util.models import RuntimeOptions

    return dict(client.call_api(params, request, RuntimeOptions())["body"])


@dataclass(frozen=True, slots=True)
class Access:
    instance: str
    key_id: str
    client_key_id: str
    private_key_der: bytes  # PKCS#8, for the signing workers


def set_up(client: Client) -> Access:
    """An instance, a key in it, and a client key allowed to use it from 127.0.0.1."""
    instance = kms_action(client, "CreateKmsInstance", Spec=UNTHROTTLED_QPS)["KmsInstanceId"]
    key_id = client.create_key(
        kms_models.CreateKeyRequest(key_spec="Aliyun_AES_256", dkmsinstance_id=instance)
    ).body.key_metadata.key_id
    tag = os.urandom(4).hex()
    client.create_network_rule(
        kms_models.CreateNetworkRuleRequest(
            name=f"bench-{tag}", type="Private", source_private_ip='["127.0.0.1/32"]'
        )
    )
    client.create_policy(
        kms_models.CreatePolicyRequest(
            name=f"bench-{tag}",
            kms_instance=instance,
            permissions='["RbacPermission/Template/CryptoServiceKeyUser"]',
            resources=json.dumps([f"key/{key_id}"]),
            access_control_rules=json.dumps({"NetworkRules": [f"bench-{tag}"]}),
        )
    )
    client.create_application_access_point(
        kms_models.CreateApplicationAccessPointRequest(
            name=f"bench-{tag}", authentication_method="ClientKey", policies=f'["bench-{tag}"]'
        )
    )
    made = client.create_client_key(
        kms_models.CreateClientKeyRequest(aap_name=f"bench-{tag}", password=PASSWORD)
    ).body
    content = json.dumps({"KeyId": made.client_key_id, "PrivateKeyData": made.private_key_data})
    loaded = load_client_key_content(content, PASSWORD)
    from cryptography.hazmat.primitives import serialization

    der = loaded.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Access(str(instance), str(key_id), loaded.key_id, der)


# --------------------------------------------------------------------------- instance requests


def nonzero_bytes(size: int) -> bytes:
    """Random bytes without 0x00: wrk_replay.lua separates requests with NUL, and a protobuf
    body carries its plaintext as it is (the rest of an Encrypt body holds no 0x00 either)."""
    return bytes(b % 255 + 1 for b in os.urandom(size))


def instance_request(
    host: str, key_id: str, client_key_id: str, key: rsa.RSAPrivateKey, plaintext: bytes, date: str
) -> bytes:
    """One Encrypt as alibabacloud-dkms-gcs puts it on the wire: its headers, its body, its
    signature (RSASSA-PKCS1-v1_5 / SHA-256 over the SDK's string to sign)."""
    body = pb.EncryptRequest(KeyId=key_id, Plaintext=plaintext).SerializeToString()
    sha = hashlib.sha256(body).hexdigest().upper()
    kms = {
        "x-kms-apiversion": API_VERSION,
        "x-kms-apiname": "Encrypt",
        "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
        "x-kms-acccesskeyid": client_key_id,
    }
    to_sign = string_to_sign("POST", sha, "application/x-protobuf", date, kms.items())
    signature = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "accept": "application/x-protobuf",
        "host": host,
        "date": date,
        "user-agent": USER_AGENT,
        **kms,
        "content-type": "application/x-protobuf",
        "content-length": str(len(body)),
        "content-sha256": sha,
        "authorization": "Bearer " + base64.b64encode(signature).decode(),
        "accept-encoding": "identity",
        "connection": "keep-alive",
    }
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


@dataclass(frozen=True, slots=True)
class SignJob:
    path: Path
    first: int
    count: int
    host: str
    access: Access
    plaintexts: list[bytes]
    start: float  # the newest date; request n is dated start - n // len(plaintexts) seconds


def sign_part(job: SignJob) -> int:
    """Write ``job.count`` NUL-separated requests; every one differs from every other (its
    plaintext, or its date one second back for each pass over the plaintexts)."""
    key = load_der_private_key(job.access.private_key_der, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pool = len(job.plaintexts)
    with job.path.open("wb") as out:
        for n in range(job.first, job.first + job.count):
            date = formatdate(job.start - n // pool, usegmt=True)
            request = instance_request(
                job.host,
                job.access.key_id,
                job.access.client_key_id,
                key,
                job.plaintexts[n % pool],
                date,
            )
            if b"\0" in request:
                raise RuntimeError("a request holds a NUL byte, the replay file's separator")
            out.write(request + b"\0")
    return job.count


def generate_instance(
    workdir: Path, total: int, slices: int, host: str, access: Access, plaintexts: list[bytes]
) -> None:
    """``workdir/requests.<i>`` for each wrk thread, as ``encrypt.generate`` lays them out."""
    workdir.mkdir()
    per_slice = -(-total // slices)
    start = time.time()
    jobs = [
        SignJob(
            workdir / f"requests.{i}", i * per_slice, per_slice, host, access, plaintexts, start
        )
        for i in range(slices)
    ]
    # RSA-2048 signing (~1 ms each) on every core; spawn: no inherited sockets.
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        pool.map(sign_part, jobs, chunksize=1)


# --------------------------------------------------------------------------- checks


def send(server: Server, raw: bytes) -> tuple[int, bytes]:
    """One prepared request on a verified HTTPS connection of its own: status and body."""
    context = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "ca.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", server.tls_port, context=context, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.sendall(raw)
        response = http.client.HTTPResponse(conn.sock, method="POST")
        response.begin()
        return response.status, response.read()
    finally:
        conn.close()


def check_instance_requests(
    server: Server, requests: list[bytes], client: Client, access: Access, plaintexts: list[bytes]
) -> int:
    """Prepared instance Encrypts are served, and what they answer is a ciphertext of a
    plaintext sent: as the shared gateway's blob (version id ‖ IV ‖ ciphertext ‖ tag, what the
    transfer SDKs build) it decrypts with the shared gateway's Decrypt. (wrk's samples cannot
    show this: its Lua hook cuts a binary body at the first NUL.)"""
    versions = client.list_key_versions(kms_models.ListKeyVersionsRequest(key_id=access.key_id))
    version_id = versions.body.key_versions.key_version[0].key_version_id
    sent = set(plaintexts)
    for raw in requests:
        status, body = send(server, raw)
        if status != 200:
            raise RuntimeError(f"a prepared instance Encrypt answered {status}: {body!r}")
        answer = pb.EncryptResponse.FromString(body)
        blob = base64.b64encode(version_id.encode() + answer.Iv + answer.CiphertextBlob).decode()
        clear = client.decrypt(kms_models.DecryptRequest(ciphertext_blob=blob)).body.plaintext
        if base64.b64decode(clear) not in sent:
            raise RuntimeError("a prepared instance Encrypt's ciphertext opens to another text")
    return len(requests)


def rps_served(result: WrkResult) -> float:
    served = int(result.raw["requests"]) - int(result.raw["non200"])
    return served / (float(result.raw["duration_us"]) / 1e6)


# --------------------------------------------------------------------------- the probe


class Probe(threading.Thread):
    """Paced instance Encrypts on one HTTPS connection of its own: the latency of each served
    (200) request, while wrk holds the instance over its spec."""

    def __init__(self, server: Server, requests: list[bytes], rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self._server = server
        self._requests = requests
        self._interval = 1.0 / rate
        self._seconds = seconds
        self.served: list[float] = []
        self.refused: dict[int, int] = {}

    def run(self) -> None:
        context = ssl.create_default_context(cafile=str(self._server.data_dir / "tls" / "ca.pem"))
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self._server.tls_port, context=context, timeout=10
        )
        conn.connect()
        sock = conn.sock
        assert sock is not None
        deadline = time.monotonic() + self._seconds
        next_at = time.monotonic()
        for raw in self._requests:
            if time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += self._interval
            started = time.perf_counter()
            sock.sendall(raw)
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
            response.read()
            elapsed = time.perf_counter() - started
            if response.status == 200:
                self.served.append(elapsed)
            else:
                self.refused[response.status] = self.refused.get(response.status, 0) + 1
        conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


# --------------------------------------------------------------------------- the run


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    client = admin_sdk(server)
    access = set_up(client)
    ak, secret = read_credentials(server.data_dir)
    # The shared gateway's Encrypt, of a key of its own, signed as encrypt.py signs it.
    shared = make_load("Encrypt", encrypt_workload(client, args.plaintext_bytes), ak, secret)
    plaintexts = [nonzero_bytes(args.plaintext_bytes) for _ in range(PLAINTEXT_POOL)]
    host = server.tls_endpoint
    load1, load5, load15 = os.getloadavg()
    print(
        f"mamori {host} (pid {server.process.pid}); {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {load1:.2f} {load5:.2f} {load15:.2f}"
    )
    started = time.monotonic()
    print(f"signing {2 * args.requests:,} instance and {args.requests:,} shared requests…")
    batches = {}
    for half in (0, 1):
        batches[("instance", half)] = workdir / f"instance-{half}"
        generate_instance(
            batches[("instance", half)], args.requests // 2, args.threads, host, access, plaintexts
        )
        batches[("shared", half)] = workdir / f"shared-{half}"
        generate(batches[("shared", half)], args.requests // 2, args.threads, shared, host)
    throttled_batch = workdir / "throttled"
    generate_instance(throttled_batch, args.requests, args.threads, host, access, plaintexts)
    probe_dir = workdir / "probe"
    generate_instance(
        probe_dir, int(args.probe_rate * args.duration * 1.2) + 4, 1, host, access, plaintexts
    )
    probe_requests = (probe_dir / "requests.0").read_bytes().split(b"\0")[:-1]
    checks, probe_requests = probe_requests[-3:], probe_requests[:-3]
    print(f"  done in {time.monotonic() - started:.1f} s")
    checked = check_instance_requests(server, checks, client, access, plaintexts)
    print(
        f"checked {checked} prepared instance Encrypts: served, and they decrypt "
        "on the shared gateway"
    )

    halves = max(1, args.duration // 2)
    runs: dict[str, list[WrkResult]] = {"instance": [], "shared": []}
    for name, half in (("instance", 0), ("shared", 0), ("shared", 1), ("instance", 1)):
        label = "instance Encrypt" if name == "instance" else "shared Encrypt"
        result = run_wrk(
            label,
            f"https://{host}/",
            threads=args.threads,
            connections=args.connections,
            duration=halves,
            replay_dir=batches[(name, half)],
            server_pid=server.process.pid,
        )
        runs[name].append(result)
    instance_result, shared_result = merge(runs["instance"]), merge(runs["shared"])

    kms_action(client, "UpdateKmsInstance", KmsInstanceId=access.instance, Spec=args.throttle_qps)
    probe = Probe(server, probe_requests, args.probe_rate, args.duration)
    probe.start()
    throttled = run_wrk(
        f"instance Encrypt at a {args.throttle_qps:,} QPS spec",
        f"https://{host}/",
        threads=args.threads,
        connections=args.connections,
        duration=args.duration,
        replay_dir=throttled_batch,
        server_pid=server.process.pid,
    )
    probe.join(timeout=args.duration + 30)
    load1, load5, load15 = os.getloadavg()
    return report(args, instance_result, shared_result, throttled, probe, (load1, load5, load15))


def report(
    args: argparse.Namespace,
    instance: WrkResult,
    shared: WrkResult,
    throttled: WrkResult,
    probe: Probe,
    load: tuple[float, float, float],
) -> int:
    failures: list[str] = []
    print(
        f"\nwrk: {args.threads} thread(s) x {args.connections} connections over HTTPS, "
        f"{args.duration} s per load; {args.plaintext_bytes}-byte plaintext; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    header = (
        f"{'load':<40} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'responses':>10} {'non-200':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in (instance, shared, throttled):
        print(
            f"{result.name:<40} {result.rps:>8,.0f} {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
            f"{result.raw['requests']:>10,} {result.raw['non200']:>8,}"
        )
    print(f"{'instance / shared':<40} {instance.rps / shared.rps:>7.2f}x")
    for result in (instance, shared):
        if result.raw["non200"] or result.socket_errors or result.raw["overflow"]:
            failures.append(
                f"{result.name}: {result.raw['non200']} non-200, {result.socket_errors} socket "
                f"errors, {result.raw['overflow']} resent; first bad: {result.raw['bad'][:1]}"
            )
    verdict = "met" if instance.rps >= args.floor else "NOT met"
    print(f"instance Encrypt floor {args.floor:,.0f}/s: {verdict}")
    if instance.rps < args.floor:
        failures.append(f"instance Encrypt {instance.rps:,.0f}/s is under {args.floor:,.0f}/s")

    served = rps_served(throttled)
    refused = int(throttled.raw["non200"])
    bad = throttled.raw["bad"][:1]
    throttling = all(
        entry["status"] == 429 and "Rejected.Throttling" in entry["body"] for entry in bad
    )
    within = abs(served - args.throttle_qps) <= 0.1 * args.throttle_qps
    print(
        f"\nthrottle at {args.throttle_qps:,} QPS: served {served:,.0f}/s "
        f"({served / args.throttle_qps:.1%} of the spec: {'within' if within else 'OUTSIDE'} "
        f"±10%), refused {refused:,} of {throttled.raw['requests']:,} "
        f"({refused / max(1, throttled.raw['requests']):.0%}), refusals "
        f"{'Rejected.Throttling (429)' if throttling else bad}"
    )
    print(
        f"probe at {args.probe_rate:.0f}/s on its own connection: {len(probe.served)} served, "
        f"p50 {percentile(probe.served, 0.5) * 1000:.2f} ms, "
        f"p99 {percentile(probe.served, 0.99) * 1000:.2f} ms; refused {probe.refused}"
    )
    if not within:
        failures.append(f"served {served:,.0f}/s is not within ±10% of {args.throttle_qps:,}")
    if not throttling:
        failures.append(f"a refusal was not Rejected.Throttling: {bad}")
    if throttled.socket_errors:
        failures.append(f"{throttled.socket_errors} socket errors under throttling")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(
        parser, requests=80_000, per="load (instance, shared, throttled)", duration=10, each="load"
    )
    parser.add_argument("--plaintext-bytes", type=int, default=1024, help="plaintext size (1024)")
    parser.add_argument("--floor", type=float, default=2000.0, help="instance Encrypt/s (2000)")
    parser.add_argument("--throttle-qps", type=int, default=1000, help="spec to hold (1000)")
    parser.add_argument("--probe-rate", type=float, default=100.0, help="probe requests/s (100)")
    parser.add_argument("--store-url", default=None, help="server --store-url (default SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    args.tls = True  # encrypt.run_script: start the HTTPS listener too
    return args


def main(argv: list[str] | None = None) -> int:
    return run_script(__file__, parse_args(argv), benchmark)


if __name__ == "__main__":
    sys.exit(main())
