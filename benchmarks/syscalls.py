"""Syscalls and server CPU per request of ``GET /health`` and of signed Encrypt, one worker.

Wall-clock rates on the shared 2-core machine are noise; what a change to the HTTP layer does
to each request is not. One run starts ``mamori server --workers 1`` (``encrypt.py``'s server,
SDK capture, signing and replay), then for each load:

1. replays it with ``wrk`` for ``--duration`` seconds and divides the server's user+system CPU
   (``/proc/<pid>/stat``) by the requests answered;
2. replays it again under ``strace -c -f -p <pid>`` (attached before wrk starts, detached after
   it stops) and divides each syscall's count by the requests answered. strace slows the server
   a lot, so this run answers fewer requests; the counts per request are what it is for.

Every response must be a 200 and no precomputed request may run out (raise ``--requests``).

Run: ``.venv/bin/python benchmarks/syscalls.py`` (``--help`` for the knobs). Needs ``wrk`` and
``strace`` (and ptrace permission over one's own processes).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from encrypt import (
    Server,
    Workload,
    WrkResult,
    _descendants,
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

# The syscalls of a request's round trip, one column each (after the total of all).
SHOWN = ("recvfrom", "read", "sendto", "write", "writev", "epoll_wait", "epoll_pwait")
TABLE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def strace_counts(path: Path) -> dict[str, int]:
    """The calls column of ``strace -c``'s table, by syscall (``total`` included)."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        match = TABLE_ROW.match(line)
        if match:
            counts[match.group(2)] = int(match.group(1))
    return counts


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU of the server and every process under it so far (Linux /proc)."""
    user = system = 0.0
    for each in _descendants(pid):
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11]) / os.sysconf("SC_CLK_TCK")
        system += int(fields[12]) / os.sysconf("SC_CLK_TCK")
    return user, system


def measured(
    server: Server, name: str, batch: Path | None, args: argparse.Namespace, trace: Path | None
) -> WrkResult:
    """One replay; under ``strace -c`` written to ``trace`` when given."""
    tracer = None
    if trace is not None:
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-p", str(server.process.pid), "-o", str(trace)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached to every thread before the first request
    try:
        return replay(
            server,
            name,
            batch,
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
        )
    finally:
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    access_key_id, secret = read_credentials(server.data_dir)
    workload: Workload = encrypt_workload(new_sdk(server.endpoint, access_key_id, secret), 1024)
    load = make_load("Encrypt", workload, access_key_id, secret)
    rows: list[tuple[str, ...]] = []
    results: list[WrkResult] = []
    health: list[WrkResult] = []
    for name in ("/health", "Encrypt"):
        for traced in (False, True) if args.strace else (False,):
            batch = None
            if name == "Encrypt":
                batch = workdir / f"requests-{len(results)}"
                generate(batch, args.requests, args.threads, load, server.endpoint)
            trace = workdir / f"strace-{len(results) + len(health)}.txt" if traced else None
            user, system = cpu_seconds(server.process.pid)
            result = measured(server, name, batch, args, trace)
            user_after, system_after = cpu_seconds(server.process.pid)
            (results if batch is not None else health).append(result)
            requests = int(result.raw["requests"])
            if trace is None:
                user = (user_after - user) * 1e6 / requests
                system = (system_after - system) * 1e6 / requests
                cpu = f"{user + system:.1f} µs/request (user {user:.1f}, system {system:.1f})"
                rows.append((name, "CPU", f"{requests:,}", cpu))
                continue
            counts = strace_counts(trace)
            shown = "  ".join(
                f"{call} {counts[call] / requests:.2f}" for call in SHOWN if call in counts
            )
            total = counts.get("total", 0) / requests
            rows.append((name, "strace", f"{requests:,}", f"{total:.2f} syscalls/request: {shown}"))
    print(f"\nwrk: {args.threads} thread(s) x {args.connections} connections, {args.duration} s")
    for row in rows:
        print("  ".join(row))
    failures = check_run([load, load], results, None)
    for result in health:
        failures += check_run([], [], result)
    return 1 if failures else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    wrk_arguments(parser, requests=40_000, per="replay", duration=5, each="replay", connections=32)
    parser.add_argument(
        "--strace",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also count syscalls under strace (default: on)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (strace tables)")
    args = parser.parse_args(argv)
    args.store_url = None
    args.workers = 1
    if args.strace and shutil.which("strace") is None:
        parser.error("strace is not on PATH (Debian: apt-get install strace)")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_script("syscalls.py", parse_args(argv), benchmark)


if __name__ == "__main__":
    sys.exit(main())
