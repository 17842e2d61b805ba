"""Signed Encrypt with a ProtectionLevel=HSM key (SoftHSM2) against a software key, same server.

One run:

1. creates a private SoftHSM2 token in a temporary directory (its own ``SOFTHSM2_CONF``; the
   system token directory is never touched) and starts ``mamori server`` configured with it;
2. creates one ``Aliyun_AES_256`` key with ``ProtectionLevel=SOFTWARE`` (the baseline) and one
   with ``ProtectionLevel=HSM``, through the official new SDK;
3. for each, signs ``--requests`` Encrypts with the SDK's own signer (the machinery of
   ``benchmarks/encrypt.py``, including its byte-for-byte self-check against the SDK) and
   replays them with ``wrk``, in the order software, HSM, HSM, software (half the duration
   each), so drift during the run cancels out;
4. prints requests/s, p50 and p99 for both and the HSM/software ratios, checks that every
   response was 200 and that sampled HSM ciphertexts decrypt to plaintexts sent.

Run: ``.venv/bin/python benchmarks/hsm_encrypt.py`` (or ``make bench-hsm``). Needs ``wrk`` and
``softhsm2``.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alibabacloud_kms20160120 import models as kms_models
from encrypt import (
    PLAINTEXT_POOL,
    WrkResult,
    capture_sdk_encrypt,
    check_samples,
    generate,
    merge,
    new_sdk,
    read_credentials,
    run_wrk,
    running_server,
    self_check,
)

from mamori.hsm import find_module

PIN = "bench-pin-1234"


def make_token(workdir: Path) -> dict[str, str]:
    """A fresh SoftHSM2 token under ``workdir``; the server environment that opens it."""
    util, module = shutil.which("softhsm2-util"), find_module()
    if util is None or module is None:
        raise SystemExit("hsm_encrypt.py needs SoftHSM2: apt-get install -y softhsm2")
    tokens = workdir / "tokens"
    tokens.mkdir(mode=0o700)
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        [util, "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN],
        check=True,
        capture_output=True,
        env=env,
    )
    return {
        "SOFTHSM2_CONF": str(conf),
        "MAMORI_HSM_MODULE": str(module),
        "MAMORI_HSM_TOKEN_LABEL": "bench",
        "MAMORI_HSM_PIN": PIN,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=160_000, help="signed requests per key (160000)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per key (10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--plaintext-bytes", type=int, default=1024, help="plaintext size (1024)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("hsm_encrypt.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    workdir = Path(tempfile.mkdtemp(prefix="mamori-bench-hsm-"))
    try:
        # The server inherits the environment: that is how it finds the private token.
        os.environ.update(make_token(workdir))
        with running_server(workdir, None) as server:
            return benchmark(args, server.endpoint, server.data_dir, server.process.pid, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def benchmark(
    args: argparse.Namespace, endpoint: str, data_dir: Path, pid: int, workdir: Path
) -> int:
    access_key_id, secret = read_credentials(data_dir)
    client = new_sdk(endpoint, access_key_id, secret)
    plaintexts = [
        base64.b64encode(os.urandom(args.plaintext_bytes)).decode() for _ in range(PLAINTEXT_POOL)
    ]
    keys: dict[str, str] = {}
    for level in ("SOFTWARE", "HSM"):
        made = client.create_key(kms_models.CreateKeyRequest(protection_level=level))
        keys[level] = made.body.key_metadata.key_id
        sealed = client.encrypt(
            kms_models.EncryptRequest(key_id=keys[level], plaintext=plaintexts[0])
        )
        blob = sealed.body.ciphertext_blob
        clear = client.decrypt(kms_models.DecryptRequest(ciphertext_blob=blob))
        if clear.body.plaintext != plaintexts[0]:
            raise RuntimeError(f"{level} round trip failed before the benchmark")
    print(
        f"mamori {endpoint} (pid {pid}); software key {keys['SOFTWARE']}, HSM key {keys['HSM']}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )

    print(f"signing {2 * args.requests:,} Encrypt requests with the SDK's signer…")
    started = time.monotonic()
    batches: dict[tuple[str, int], Path] = {}
    for level, key_id in keys.items():
        template = capture_sdk_encrypt(access_key_id, secret, key_id, plaintexts[0])
        self_check(template, access_key_id, secret)
        for half in (0, 1):
            batch = workdir / f"requests-{level}-{half}"
            batch.mkdir()
            generate(
                batch,
                args.requests // 2,
                args.threads,
                template,
                endpoint,
                plaintexts,
                access_key_id,
                secret,
            )
            batches[(level, half)] = batch
    print(f"  done in {time.monotonic() - started:.1f} s")

    runs: dict[str, list[WrkResult]] = {}
    for level, half in (("SOFTWARE", 0), ("HSM", 0), ("HSM", 1), ("SOFTWARE", 1)):
        runs.setdefault(level, []).append(
            run_wrk(
                f"Encrypt {level}",
                f"http://{endpoint}/",
                threads=args.threads,
                connections=args.connections,
                duration=max(1, args.duration // 2),
                replay_dir=batches[(level, half)],
                server_pid=pid,
            )
        )
        shutil.rmtree(batches[(level, half)], ignore_errors=True)
    software, hsm = merge(runs["SOFTWARE"]), merge(runs["HSM"])

    print(
        f"\nwrk: {args.threads} thread(s) x {args.connections} connections, "
        f"{args.duration} s per key; {args.plaintext_bytes}-byte plaintext\n"
    )
    header = ("endpoint", "req/s", "p50 ms", "p99 ms", "responses", "non-200", "server CPU")
    rows = [header]
    for result in (software, hsm):
        rows.append(
            (
                result.name,
                f"{result.rps:,.0f}",
                f"{result.p50_ms:.2f}",
                f"{result.p99_ms:.2f}",
                f"{result.raw['requests']:,}",
                f"{result.raw['non200']:,}",
                f"{result.raw['server_cpu']:.0%}",
            )
        )
    rows.append(
        (
            "HSM/software",
            f"{hsm.rps / software.rps:.2f}x",
            f"{hsm.p50_ms / software.p50_ms:.2f}x",
            f"{hsm.p99_ms / software.p99_ms:.2f}x",
            "",
            "",
            "",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        cells = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *cells]))
        if index == 0:
            print("  ".join("-" * w for w in widths))

    failures = []
    for result in (software, hsm):
        if result.raw["overflow"]:
            failures.append(f"{result.name}: wrk ran out of requests; raise --requests")
        if result.raw["non200"] or result.raw["non2xx"] or result.socket_errors:
            failures.append(f"{result.name}: errors, first: {result.raw['bad'][:1]}")
    try:
        checked = check_samples(client, hsm, keys["HSM"], set(plaintexts))
        print(f"\nsampled {checked} HSM Encrypt responses: real ciphertexts of the plaintexts sent")
    except RuntimeError as exc:
        failures.append(str(exc))
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
