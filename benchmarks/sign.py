"""Signed AsymmetricSign throughput (RSA_2048 and EC_P256, in software and in an HSM) against a
real ``mamori server``, with Encrypt and ``GET /health`` measured in the same run as baselines.

One run:

1. creates a private SoftHSM2 token (``benchmarks/hsm_encrypt.py``'s ``make_token``; skipped
   with a note when SoftHSM2 is not installed), starts ``mamori server`` with it on a temporary
   data directory (SQLite unless ``--store-url``) and creates an ``Aliyun_AES_256`` key, and an
   ``RSA_2048`` and an ``EC_P256`` key with each ProtectionLevel, with the official new SDK;
2. captures one Encrypt and one AsymmetricSign per key exactly as the SDK puts them on the wire,
   then precomputes ``--requests`` requests for each, signed with the SDK's own ACS3 signer,
   each with its own nonce and a fresh SHA-256 digest (``benchmarks/encrypt.py`` does the
   capturing, signing, replaying and checking, and drives the Encrypt baseline; this script
   only adds the AsymmetricSign workloads);
3. replays each set with ``wrk`` for ``--duration`` seconds, then ``GET /health``;
4. prints requests/s, p50, p99 and server CPU for each, checks every response was 200, that
   sampled Encrypts decrypt to a plaintext sent and that sampled signatures verify with
   ``cryptography`` against GetPublicKey's PEM.

Run: ``.venv/bin/python benchmarks/sign.py`` (``--help`` for the knobs). Needs ``wrk``, and
``softhsm2`` for the HSM rows.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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
    Workload,
    WrkResult,
    check_run,
    encrypt_workload,
    generate,
    make_load,
    new_sdk,
    read_credentials,
    replay,
    run_script,
    wrk_arguments,
)
from hsm_encrypt import make_token

from mamori.hsm import find_module

POOL = 256
# Alibaba's shared gateway allows 200 asymmetric requests/s; the aim is ten times that.
AIM = 2000.0
# Encrypt's plaintext, before base64: the baseline is encrypt.py's default Encrypt.
PLAINTEXT_BYTES = 1024

DIGESTS = [hashlib.sha256(os.urandom(16)).digest() for _ in range(POOL)]


def sign_workload(client: Client, spec: str, algorithm: str, level: str = "SOFTWARE") -> Workload:
    """A ``spec`` key with ProtectionLevel ``level``; AsymmetricSigns of ``POOL`` distinct
    SHA-256 digests with ``algorithm``. A sampled signature must verify against GetPublicKey's
    PEM; the digest of a sample is unknown, so it is checked against the whole digest pool."""
    request = kms_models.CreateKeyRequest(key_spec=spec, protection_level=level)
    meta = client.create_key(request).body.key_metadata
    key, version = str(meta.key_id), str(meta.primary_key_version)
    digests = [base64.b64encode(d).decode() for d in DIGESTS]

    def sign(sdk: Client) -> object:
        return sdk.asymmetric_sign(
            kms_models.AsymmetricSignRequest(
                key_id=key, key_version_id=version, algorithm=algorithm, digest=digests[0]
            )
        )

    # One real SDK call first: the key works and the server's key cache is warm.
    sign(client)
    pem = client.get_public_key(
        kms_models.GetPublicKeyRequest(key_id=key, key_version_id=version)
    ).body.public_key
    public = serialization.load_pem_public_key(pem.encode())

    def check(answer: dict[str, Any]) -> None:
        value = answer.get("Value")
        if answer.get("KeyId") != key or not isinstance(value, str):
            raise RuntimeError(f"sampled AsymmetricSign answered for another key: {answer}")
        signature = base64.b64decode(value)
        if not any(_verifies(public, signature, d) for d in DIGESTS):
            raise RuntimeError(
                f"AsymmetricSign {spec}: a sampled signature does not verify: {answer}"
            )

    return Workload(
        action="AsymmetricSign",
        call=sign,
        reply={"KeyId": key, "KeyVersionId": version, "Value": ""},
        variants=[{"Digest": digest} for digest in digests],
        check=check,
        checked="each verifies with cryptography on GetPublicKey's PEM",
        ram_policies=("AliyunKMSCryptoUserAccess",),
    )


def _verifies(public: Any, signature: bytes, digest: bytes) -> bool:
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except Exception:
        return False
    return True


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
    by_name = {r.name: r for r in results}
    for r in results:
        software = by_name.get(r.name.removesuffix(" HSM"))
        if r.name.endswith(" HSM") and software is not None:
            print(f"{r.name}/{software.name}: {r.rps / software.rps:.2f}x")
    for r in results:
        if r.name.startswith("AsymmetricSign"):
            verdict = "met" if r.rps >= AIM else "NOT met"
            print(f"{r.name}: aim {AIM:,.0f}/s (10x Alibaba's 200/s) {verdict}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, requests=100_000, per="action", duration=10, each="wrk run")
    parser.add_argument("--store-url", default=None, help="server --store-url (default SQLite)")
    parser.add_argument(
        "--workers", type=int, default=0, help="server --workers (default 0: one per core)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("softhsm2-util") is None or find_module() is None:
        print("SoftHSM2 is not installed: no HSM rows (apt-get install -y softhsm2)")
        args.hsm = False
        return run_script("sign.py", args, benchmark)
    args.hsm = True
    token_dir = Path(tempfile.mkdtemp(prefix="mamori-bench-token-"))
    try:
        # The server inherits the environment: that is how it finds the private token.
        os.environ.update(make_token(token_dir))
        return run_script("sign.py", args, benchmark)
    finally:
        shutil.rmtree(token_dir, ignore_errors=True)


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    ak, secret = read_credentials(server.data_dir)
    client = new_sdk(server.endpoint, ak, secret)
    # make_load captures each call and checks that the generator rebuilds it byte for byte.
    loads = [make_load("Encrypt (1 KiB)", encrypt_workload(client, PLAINTEXT_BYTES), ak, secret)]
    levels = ("SOFTWARE", "HSM") if args.hsm else ("SOFTWARE",)
    for spec, algorithm in (("RSA_2048", "RSA_PKCS1_SHA_256"), ("EC_P256", "ECDSA_SHA_256")):
        for level in levels:
            name = f"AsymmetricSign {spec}" + (" HSM" if level == "HSM" else "")
            workload = sign_workload(client, spec, algorithm, level)
            loads.append(make_load(name, workload, ak, secret))
    print(
        f"mamori {server.endpoint} (pid {server.process.pid}); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"signing {args.requests * len(loads):,} requests with the SDK's signer…")
    started = time.monotonic()
    batches: list[Path] = []
    for index, load in enumerate(loads):
        batches.append(workdir / f"requests-{index}")
        generate(batches[-1], args.requests, args.threads, load, server.endpoint)
    print(f"  done in {time.monotonic() - started:.1f} s")
    wrk = {"threads": args.threads, "connections": args.connections, "duration": args.duration}
    results = [
        replay(server, load.name, batch, **wrk) for load, batch in zip(loads, batches, strict=True)
    ]
    health = replay(server, "/health", None, **wrk)
    print(f"\nwrk: {args.threads} thread(s) x {args.connections} connections,", end=" ")
    print(f"{args.duration} s each\n")
    print_table([*results, health], results[0])
    return 1 if check_run(loads, results, health) else 0


if __name__ == "__main__":
    sys.exit(main())
