"""Signed Encrypt with a ProtectionLevel=HSM key (SoftHSM2) against a software key, same server.

One run:

1. creates a private SoftHSM2 token in a temporary directory (its own ``SOFTHSM2_CONF``; the
   system token directory is never touched) and starts ``mamori server`` configured with it;
2. creates one ``Aliyun_AES_256`` key with ``ProtectionLevel=SOFTWARE`` (the baseline) and one
   with ``ProtectionLevel=HSM``, through the official new SDK;
3. for each, signs ``--requests`` Encrypts with the SDK's own signer (the machinery of
   ``benchmarks/encrypt.py``, including its byte-for-byte self-check against the SDK) and
   replays them with ``wrk``, in the order software, HSM, HSM, software (half the duration
   each), so drift during the run cancels out, then ``GET /health``;
4. prints requests/s, p50 and p99 for each and the HSM/software ratios, checks that every
   response was 200 and that sampled ciphertexts of both keys decrypt to plaintexts sent.

Run: ``.venv/bin/python benchmarks/hsm_encrypt.py`` (or ``make bench-hsm``). Needs ``wrk`` and
``softhsm2``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from encrypt import (
    Server,
    check_run,
    encrypt_workload,
    make_load,
    new_sdk,
    print_report,
    read_credentials,
    run_loads,
    run_script,
    wrk_arguments,
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
    wrk_arguments(parser, requests=160_000, per="key", duration=10, each="key")
    parser.add_argument("--plaintext-bytes", type=int, default=1024, help="plaintext size (1024)")
    parser.add_argument("--store-url", default=None, help="server --store-url (default SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token_dir = Path(tempfile.mkdtemp(prefix="mamori-bench-token-"))
    try:
        # The server inherits the environment: that is how it finds the private token.
        os.environ.update(make_token(token_dir))
        return run_script("hsm_encrypt.py", args, benchmark)
    finally:
        shutil.rmtree(token_dir, ignore_errors=True)


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    access_key_id, secret = read_credentials(server.data_dir)
    client = new_sdk(server.endpoint, access_key_id, secret)
    loads = [
        make_load(
            f"Encrypt {level}",
            encrypt_workload(client, args.plaintext_bytes, protection_level=level),
            access_key_id,
            secret,
        )
        for level in ("SOFTWARE", "HSM")
    ]
    results, health = run_loads(args, server, workdir, loads)
    print(
        f"\nwrk: {args.threads} thread(s) x {args.connections} connections, "
        f"{args.duration} s per key; {args.plaintext_bytes}-byte plaintext\n"
    )
    print_report(
        results, health, floor=0.0, ratios=[("HSM/software", "Encrypt HSM", "Encrypt SOFTWARE")]
    )
    return 1 if check_run(loads, results, health) else 0


if __name__ == "__main__":
    sys.exit(main())
