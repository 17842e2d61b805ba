"""``mamori agent`` throughput: cached secret reads through the agent against signed
``GetSecretValue`` straight to the server, and envelope encryption of 1 KiB, in one run.

One run:

1. starts ``mamori server`` (SQLite unless ``--store-url``) and, through the official SDK, a
   text secret of ~100 bytes (``benchmarks/encrypt.py``'s GetSecretValue workload) and an
   ``Aliyun_AES_256`` key;
2. starts ``mamori agent`` in front of it (plain HTTP upstream, the admin credentials file
   through the official credential chain, the key enabled for envelope encryption with
   ``MaxMessages`` = ``--max-messages``) and reads the secret once, so the cache is warm;
3. with ``wrk`` (``benchmarks/wrk_replay.lua``), for ``--duration`` seconds each: the agent's
   ``/ping`` (its trivial endpoint), ``GET /v1/<secret>`` through the agent (first half),
   signed ``GetSecretValue`` to the server (the encrypt.py replay: every request signed by
   the SDK with its own nonce), ``GET /v1/<secret>`` again (second half: drift cancels), the
   server's ``/health``, and ``POST /v1/envelope/encrypt`` of 1 KiB;
4. prints requests/s, p50, p99, the ratios agent ÷ server, the envelope data-key hit ratio
   from the agent's ``/mamori/stats``, and checks every answer was 200 and sampled ones right.

Run: ``.venv/bin/python benchmarks/agent.py`` (``--help`` for the knobs). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import encrypt as base  # noqa: E402 — the sibling benchmark's server, signing and wrk plumbing

from mamori.client import Client as MamoriClient  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per load (8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--requests", type=int, default=120_000, help="signed GetSecretValue to precompute"
    )
    parser.add_argument("--max-messages", type=int, default=10_000, help="envelope MaxMessages")
    parser.add_argument("--store-url", default=None, help="server --store-url (default SQLite)")
    parser.add_argument("--floor", type=float, default=8000.0, help="cached reads/s to meet")
    parser.add_argument("--p99-ms", type=float, default=10.0, help="cached-read p99 to meet")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def start_agent(
    workdir: Path, server: base.Server, key_id: str, token: str, max_messages: int
) -> tuple[subprocess.Popen[bytes], int]:
    port = base.free_port()
    config = workdir / "agent.toml"
    config.write_text(
        f'[KMS]\nEndpoint = "{server.endpoint}"\nProtocol = "http"\n'
        f'[[Envelope.Keys]]\nKeyId = "{key_id}"\nMaxMessages = {max_messages}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    env.update(
        KMS_TOKEN=token,
        ALIBABA_CLOUD_CREDENTIALS_FILE=str(server.data_dir / "admin.credentials"),
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        ALIBABA_CLOUD_CLI_PROFILE_DISABLED="true",
    )
    log = (workdir / "agent.log").open("ab")
    process = subprocess.Popen(
        [*base.server_command(), "agent", "--config", str(config), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((workdir / "agent.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the agent did not start")


def replay_dir(workdir: Path, name: str, raw: bytes, threads: int) -> Path:
    """One raw request per wrk thread; the replay script resends it (no nonce to reuse)."""
    directory = workdir / name
    directory.mkdir()
    for index in range(threads):
        (directory / f"requests.{index}").write_bytes(raw + b"\0")
    return directory


def agent_load(
    args: argparse.Namespace, name: str, directory: Path, port: int, pid: int
) -> base.WrkResult:
    result = base.run_wrk(
        name,
        f"http://127.0.0.1:{port}/",
        threads=args.threads,
        connections=args.connections,
        duration=args.duration,
        replay_dir=directory,
        server_pid=pid,
    )
    result.raw["overflow"] = 0  # one request resent on purpose
    return result


def benchmark(args: argparse.Namespace, server: base.Server, workdir: Path) -> int:
    ak, secret = base.read_credentials(server.data_dir)
    sdk = base.new_sdk(server.endpoint, ak, secret)
    workload = base.secret_workload(sdk)
    name = workload.reply["SecretName"]
    load = base.make_load("GetSecretValue", workload, ak, secret)
    with MamoriClient(server.endpoint, ak, secret) as admin:
        key_id = str(admin.call("CreateKey")["KeyMetadata"]["KeyId"])
    token = secrets.token_hex(32)
    agent, port = start_agent(workdir, server, key_id, token, args.max_messages)
    try:
        warm = httpx.get(f"http://127.0.0.1:{port}/v1/{name}", headers={"X-KMS-Token": token})
        workload.check(warm.json())
        head = f"Host: 127.0.0.1:{port}\r\nX-KMS-Token: {token}\r\n"
        get = f"GET /v1/{name} HTTP/1.1\r\n{head}\r\n".encode()
        ping = f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        body = json.dumps(
            {"KeyId": key_id, "Plaintext": base64.b64encode(os.urandom(1024)).decode()}
        ).encode()
        post = (
            f"POST /v1/envelope/encrypt HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        half = argparse.Namespace(**{**vars(args), "duration": max(1, args.duration // 2)})

        def through_agent(opts: argparse.Namespace, label: str, raw: bytes) -> base.WrkResult:
            directory = replay_dir(workdir, secrets.token_hex(4), raw, args.threads)
            return agent_load(opts, label, directory, port, agent.pid)

        ping_result = through_agent(args, "agent /ping", ping)
        first = through_agent(half, "agent GET", get)
        batch = workdir / "signed"
        base.generate(batch, args.requests, args.threads, load, server.endpoint)
        direct = base.replay(
            server,
            "signed GetSecretValue",
            batch,
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
        )
        second = through_agent(half, "agent GET", get)
        health = base.replay(
            server,
            "server /health",
            None,
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
        )
        before = stats(port, token)["Envelope"]
        envelope = through_agent(args, "agent envelope encrypt 1 KiB", post)
        after = stats(port, token)["Envelope"]
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    cached = base.merge([first, second])
    return report(args, ping_result, cached, direct, health, envelope, before, after, workload)


def stats(port: int, token: str) -> dict[str, Any]:
    answer = httpx.get(f"http://127.0.0.1:{port}/mamori/stats", headers={"X-KMS-Token": token})
    return dict(answer.json())


def report(
    args: argparse.Namespace,
    ping: base.WrkResult,
    cached: base.WrkResult,
    direct: base.WrkResult,
    health: base.WrkResult,
    envelope: base.WrkResult,
    before: dict[str, Any],
    after: dict[str, Any],
    workload: base.Workload,
) -> int:
    failures: list[str] = []
    for result in (ping, cached, direct, health, envelope):
        if result.raw["non200"] or result.raw["non2xx"] or result.socket_errors:
            failures.append(f"{result.name}: non-200 or socket errors: {result.raw['bad'][:1]}")
    try:
        for sample in cached.raw["samples"] + direct.raw["samples"]:
            workload.check(json.loads(sample))
    except RuntimeError as exc:
        failures.append(str(exc))
    encrypts = after["Encrypts"] - before["Encrypts"]
    generated = after["GenerateDataKeyCalls"] - before["GenerateDataKeyCalls"]
    hit_ratio = 1 - generated / encrypts if encrypts else 0.0
    print(
        f"\nload: wrk {args.threads} threads, {args.connections} connections, "
        f"{args.duration} s per load (agent GET: two halves around the signed load); "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'load':34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu':>6}")
    for result in (ping, cached, direct, health, envelope):
        print(
            f"{result.name:34} {result.rps:>10,.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{result.raw['server_cpu']:>6.0%}"
        )
    print(f"\ncached agent GET ÷ signed GetSecretValue: {cached.rps / direct.rps:.2f}×")
    print(f"cached agent GET ÷ agent /ping:            {cached.rps / ping.rps:.2f}×")
    print(f"signed GetSecretValue ÷ server /health:    {direct.rps / health.rps:.2f}×")
    print(
        f"envelope encrypt: {encrypts:,} encrypts, {generated} GenerateDataKey calls, "
        f"data-key hit ratio {hit_ratio:.4%} (MaxMessages {args.max_messages:,})"
    )
    if cached.rps < args.floor:
        failures.append(f"cached reads {cached.rps:,.0f}/s below the floor {args.floor:,.0f}/s")
    if cached.p99_ms > args.p99_ms:
        failures.append(f"cached-read p99 {cached.p99_ms:.2f} ms above {args.p99_ms} ms")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return base.run_script("agent.py", parse_args(argv), benchmark)


if __name__ == "__main__":
    sys.exit(main())
