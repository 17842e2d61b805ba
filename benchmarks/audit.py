"""Encrypt with the audit log on against the same run with it off, on the same data, and the
audit events per second one node sustains (docs/audit.md, docs/benchmarks.md).

One run:

1. makes a data dir, starts ``mamori server --workers N`` on it (audit on), creates an
   ``Aliyun_AES_256`` key with the official SDK and stops it;
2. signs ``--requests`` Encrypt requests per half-run with the SDK's own signer (as
   ``encrypt.py`` does: every request is sent once);
3. runs off, on, on, off — the server restarted on the same data dir between them with
   ``MAMORI_AUDIT`` set, half the duration each — so drift cancels out;
4. prints req/s, p50, p99 for each, the on/off ratio (floor ``--floor-ratio``), the audit
   events/s of the on runs (one record per request), and verifies every worker's chain
   (``mamori audit verify``) at the end;
5. measures the audit log alone, in this process: ``--appenders`` concurrent tasks appending
   Encrypt-shaped records to a real chain (real ``fdatasync``) for 3 s: the events/s one writer
   sustains, and records per sync.

Run: ``.venv/bin/python benchmarks/audit.py`` (``--help`` for the knobs). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from encrypt import (
    WrkResult,
    encrypt_workload,
    generate,
    make_load,
    merge,
    new_sdk,
    read_credentials,
    replay,
    running_server,
    server_command,
    wrk_arguments,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, requests=150_000, per="run", duration=10, each="mode", connections=32)
    parser.add_argument("--workers", type=int, default=2, help="server --workers (2)")
    parser.add_argument("--plaintext-bytes", type=int, default=1024, help="plaintext size")
    parser.add_argument("--floor-ratio", type=float, default=0.85, help="on/off floor (0.85)")
    parser.add_argument("--rounds", type=int, default=1, help="off,on,on,off sequences (1)")
    parser.add_argument("--appenders", type=int, default=64, help="writer-alone tasks (64)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, workdir: Path, mode: str, batch: Path) -> WrkResult:
    os.environ["MAMORI_AUDIT"] = mode
    with running_server(workdir, None, args.workers) as server:
        result = replay(
            server,
            f"Encrypt, audit {mode}",
            batch,
            threads=args.threads,
            connections=args.connections,
            duration=max(1, args.duration // (2 * args.rounds)),
        )
        result.raw["syncs"] = _metric_sum(server.endpoint, "mamori_audit_fsync_seconds_count")
        return result


def _metric_sum(endpoint: str, name: str) -> float:
    """The sum over every worker and label of one sample of the server's ``/metrics``."""
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def _interleaved(runs: dict[str, list[WrkResult]]) -> list[WrkResult]:
    """Every run in the order it ran (off, on, on, off, …)."""
    off, on = list(runs["off"]), list(runs["on"])
    order: list[WrkResult] = []
    while off or on:
        for mode in (off, on, on, off):
            if mode:
                order.append(mode.pop(0))
    return order


def writer_alone(directory: Path, appenders: int, seconds: float = 3.0) -> tuple[float, float]:
    """Events/s and records per sync of one ``AuditLog`` fed by ``appenders`` tasks."""
    from mamori.audit import AuditLog, Encoder, Event

    syncs = 0

    def synced(_seconds: float, _records: int) -> None:
        nonlocal syncs
        syncs += 1

    async def run() -> int:
        # Keyed, as a server writes (a random key: the MAC costs the same under any key).
        log = AuditLog(directory, "bench-w0", observe_sync=synced, mac_key=os.urandom(32))
        log.open()
        log.start(asyncio.get_running_loop())
        encoder = Encoder("bench", "cn-hangzhou")
        count = 0
        end = time.perf_counter() + seconds

        async def appender(n: int) -> None:
            nonlocal count
            while time.perf_counter() < end:
                event = Event("pop", f"REQ-{n}-{count}", "127.0.0.1", False)
                event.action, event.version = "Encrypt", "2016-01-20"
                event.account, event.principal = "1234567890123456", "acs:ram::1:root"
                event.params = {"KeyId": "key-bench", "Plaintext": "…"}
                event.result = {"KeyId": "key-bench", "KeyVersionId": "v-1"}
                await log.append(encoder.body(event))
                count += 1

        await asyncio.gather(*(appender(n) for n in range(appenders)))
        await log.drain()
        log.close()
        return count

    count = asyncio.run(run())
    return count / seconds, count / max(1, syncs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("audit.py needs wrk on PATH", file=sys.stderr)
        return 2
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    workdir = Path(tempfile.mkdtemp(prefix="mamori-bench-audit-"))
    try:
        os.environ["MAMORI_AUDIT"] = "on"
        with running_server(workdir, None, args.workers) as server:
            access_key_id, secret = read_credentials(server.data_dir)
            client = new_sdk(server.endpoint, access_key_id, secret)
            load = make_load(
                "Encrypt", encrypt_workload(client, args.plaintext_bytes), access_key_id, secret
            )
            endpoint = server.endpoint
        order = ["off", "on", "on", "off"] * args.rounds
        print(f"signing {args.requests * len(order):,} requests with the SDK's signer…")
        batches = []
        for index in range(len(order)):
            batch = workdir / f"requests-{index}"
            generate(batch, args.requests, args.threads, load, endpoint)
            batches.append(batch)
        runs: dict[str, list[WrkResult]] = {"off": [], "on": []}
        for mode, batch in zip(order, batches, strict=True):
            runs[mode].append(_run(args, workdir, mode, batch))
        off, on = merge(runs["off"]), merge(runs["on"])
        ratio = on.rps / off.rps
        print(
            f"\n--workers {args.workers}, wrk {args.threads} threads x {args.connections} "
            f"connections, {args.duration} s per mode, {args.plaintext_bytes}-byte plaintext"
        )
        print(
            f"{'mode':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU us/req':>12}{'errors':>8}"
        )
        for mode, result in [(f"  {r.name[-3:].strip()}", r) for r in _interleaved(runs)] + [
            ("audit off", off),
            ("audit on", on),
        ]:
            non_2xx = int(result.raw["non200"]) + result.socket_errors
            cpu_us = float(result.raw["server_cpu"]) / result.rps * 1e6
            print(
                f"{mode:<12}{result.rps:>10.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}"
                f"{cpu_us:>12.0f}{non_2xx:>8}"
            )
        syncs = sum(float(r.raw["syncs"]) for r in runs["on"])
        records = sum(float(r.raw["requests"]) for r in runs["on"])
        print(f"audit on: {records / max(1.0, syncs):.1f} records per sync")
        print(f"on/off: {ratio:.3f}x (floor {args.floor_ratio}); audit events/s: {on.rps:.0f}")
        verified = subprocess.run(
            [*server_command(), "audit", "verify", "--data-dir", str(workdir / "data")],
            capture_output=True,
            text=True,
        )
        print(verified.stdout.strip())
        rate, per_sync = writer_alone(workdir / "writer", args.appenders)
        print(
            f"audit writer alone ({args.appenders} concurrent appenders, real fdatasync): "
            f"{rate:,.0f} events/s, {per_sync:.1f} records per sync"
        )
        bad = sum(int(r.raw["non200"]) + r.socket_errors for r in (off, on))
        failed = ratio < args.floor_ratio or verified.returncode != 0 or bad > 0
        return 1 if failed else 0
    finally:
        os.environ.pop("MAMORI_AUDIT", None)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
