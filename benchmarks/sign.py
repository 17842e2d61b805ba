"""Signed AsymmetricSign throughput (RSA_2048 and EC_P256) against a real ``mamori server``, with
Encrypt and ``GET /health`` measured in the same run as baselines.

One run:

1. starts ``mamori server`` on a temporary data directory (SQLite unless ``--store-url``) and
   creates an ``Aliyun_AES_256``, an ``RSA_2048`` and an ``EC_P256`` key with the official new
   SDK;
2. captures one Encrypt and one AsymmetricSign per key exactly as the SDK puts them on the wire,
   then precomputes ``--requests`` requests for each, signed with the SDK's own ACS3 signer,
   each with its own nonce and a fresh SHA-256 digest (``benchmarks/encrypt.py`` does the
   capturing, signing and replaying; this script only picks the actions);
3. replays each set with ``wrk`` for ``--duration`` seconds, then ``GET /health``;
4. prints requests/s, p50, p99 and server CPU for each, checks every response was 200 and that
   sampled signatures verify with ``cryptography`` against GetPublicKey's PEM.

Run: ``.venv/bin/python benchmarks/sign.py`` (``--help`` for the knobs). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from encrypt import (
    Server,
    Template,
    WrkResult,
    capture_sdk_call,
    capture_sdk_encrypt,
    generate,
    new_sdk,
    read_credentials,
    run_wrk,
    running_server,
    self_check,
)

POOL = 256
# Alibaba's shared gateway allows 200 asymmetric requests/s; the aim is ten times that.
AIM = 2000.0


def capture_sign(ak: str, secret: str, key: str, version: str, algorithm: str) -> Template:
    """One SDK AsymmetricSign as it goes on the wire; each replayed request varies Digest."""
    digest = base64.b64encode(hashlib.sha256(b"capture").digest()).decode()
    return capture_sdk_call(
        ak,
        secret,
        lambda client: client.asymmetric_sign(
            kms_models.AsymmetricSignRequest(
                key_id=key, key_version_id=version, algorithm=algorithm, digest=digest
            )
        ),
        {"RequestId": "capture", "KeyId": key, "KeyVersionId": version, "Value": ""},
        vary="Digest",
    )


def check_signatures(client: Client, result: WrkResult, key: str, version: str) -> int:
    """Verify sampled signatures with cryptography against GetPublicKey's PEM. The digest of
    each sample is unknown here, so each is checked against the whole digest pool."""
    pem = client.get_public_key(
        kms_models.GetPublicKeyRequest(key_id=key, key_version_id=version)
    ).body.public_key
    public = serialization.load_pem_public_key(pem.encode())
    checked = 0
    for body in result.raw["samples"]:
        signature = base64.b64decode(json.loads(body)["Value"])
        if not any(_verifies(public, signature, d) for d in DIGESTS):
            raise RuntimeError(f"{result.name}: a sampled signature does not verify: {body}")
        checked += 1
    return checked


def _verifies(public: Any, signature: bytes, digest: bytes) -> bool:
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except Exception:
        return False
    return True


DIGESTS = [hashlib.sha256(os.urandom(16)).digest() for _ in range(POOL)]


def print_table(results: list[WrkResult], baseline: WrkResult) -> None:
    header = ("endpoint", "req/s", "p50 ms", "p99 ms", "responses", "non-200", "server CPU")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.name,
                f"{r.rps:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.raw['requests']:,}",
                f"{r.raw['non200']:,}",
                f"{r.raw['server_cpu']:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print(
            "  ".join(
                [row[0].ljust(widths[0])]
                + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        if r is not baseline and r.name != "/health":
            print(f"{r.name}/Encrypt: {r.rps / baseline.rps:.2f}x")
    for r in results:
        if r.name.startswith("AsymmetricSign"):
            verdict = "met" if r.rps >= AIM else "NOT met"
            print(f"{r.name}: aim {AIM:,.0f}/s (10x Alibaba's 200/s) {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=100_000, help="requests per action (100000)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--store-url", default=None, help="server --store-url (default SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("sign.py needs wrk: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    workdir = Path(tempfile.mkdtemp(prefix="mamori-bench-sign-"))
    try:
        with running_server(workdir, args.store_url) as server:
            return benchmark(args, server, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _key(client: Client, spec: str) -> tuple[str, str]:
    meta = client.create_key(kms_models.CreateKeyRequest(key_spec=spec)).body.key_metadata
    return str(meta.key_id), str(meta.primary_key_version)


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    ak, secret = read_credentials(server.data_dir)
    client = new_sdk(server.endpoint, ak, secret)
    aes, _ = _key(client, "Aliyun_AES_256")
    rsa_key = _key(client, "RSA_2048")
    ec_key = _key(client, "EC_P256")
    plaintexts = [base64.b64encode(os.urandom(1024)).decode() for _ in range(POOL)]
    digests = [base64.b64encode(d).decode() for d in DIGESTS]
    jobs: list[tuple[str, Template, list[str]]] = [
        ("Encrypt (1 KiB)", capture_sdk_encrypt(ak, secret, aes, plaintexts[0]), plaintexts),
        (
            "AsymmetricSign RSA_2048",
            capture_sign(ak, secret, *rsa_key, "RSA_PKCS1_SHA_256"),
            digests,
        ),
        ("AsymmetricSign EC_P256", capture_sign(ak, secret, *ec_key, "ECDSA_SHA_256"), digests),
    ]
    # The generator must rebuild each captured request byte for byte; then one real SDK call
    # per signing key proves the keys work and warms the server's caches.
    for _name, template, _values in jobs:
        self_check(template, ak, secret)
    for key, version in (rsa_key, ec_key):
        alg = "RSA_PKCS1_SHA_256" if key == rsa_key[0] else "ECDSA_SHA_256"
        client.asymmetric_sign(
            kms_models.AsymmetricSignRequest(
                key_id=key, key_version_id=version, algorithm=alg, digest=digests[0]
            )
        )
    print(
        f"mamori {server.endpoint} (pid {server.process.pid}); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"signing {args.requests * len(jobs):,} requests with the SDK's signer…")
    started = time.monotonic()
    batches: list[Path] = []
    for index, (_name, template, values) in enumerate(jobs):
        batch = workdir / f"requests-{index}"
        batch.mkdir()
        generate(batch, args.requests, args.threads, template, server.endpoint, values, ak, secret)
        batches.append(batch)
    print(f"  done in {time.monotonic() - started:.1f} s")
    results: list[WrkResult] = []
    for (name, _template, _values), batch in zip(jobs, batches, strict=True):
        results.append(
            run_wrk(
                name,
                f"http://{server.endpoint}/",
                threads=args.threads,
                connections=args.connections,
                duration=args.duration,
                replay_dir=batch,
                server_pid=server.process.pid,
            )
        )
        shutil.rmtree(batch, ignore_errors=True)
    results.append(
        run_wrk(
            "/health",
            f"http://{server.endpoint}/health",
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
            replay_dir=None,
            server_pid=server.process.pid,
        )
    )
    print(f"\nwrk: {args.threads} thread(s) x {args.connections} connections,", end=" ")
    print(f"{args.duration} s each\n")
    print_table(results, results[0])

    failures: list[str] = []
    for r in results:
        if r.raw["overflow"]:
            failures.append(f"{r.name}: ran out of precomputed requests; raise --requests")
        if r.raw["non200"] or r.raw["non2xx"]:
            failures.append(f"{r.name}: non-200 responses, first: {r.raw['bad'][:1]}")
        if r.socket_errors:
            failures.append(f"{r.name}: {r.socket_errors} socket errors/timeouts")
    try:
        checked = check_signatures(client, results[1], *rsa_key)
        checked += check_signatures(client, results[2], *ec_key)
        print(
            f"sampled {checked} signatures: each verifies with cryptography on GetPublicKey's PEM"
        )
    except RuntimeError as exc:
        failures.append(str(exc))
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
