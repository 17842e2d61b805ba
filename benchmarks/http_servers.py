"""Which HTTP server carries the shared gateway best: uvicorn with httptools (what ``mamori
server`` runs, through the head bounds of ``mamori/http/limits.py``) against granian, on the
same ASGI app, in the same run: signed 1 KiB Encrypt and ``GET /health``.

    .venv/bin/pip install 'granian>=2,<3'      # not a dependency of Mamori
    .venv/bin/python benchmarks/http_servers.py --duration 6 --requests 60000

Each server is one process with one event loop (granian: one worker, one runtime thread), so
the figures compare what each HTTP layer costs per request. The servers run A B B A, half the
duration each, with ``/health`` measured after each half. Requests are made, replayed and
checked as in ``encrypt.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from encrypt import (
    Server,
    WrkResult,
    check_run,
    encrypt_workload,
    free_port,
    generate,
    health_status,
    make_load,
    merge,
    new_sdk,
    print_report,
    read_credentials,
    replay,
    stop_server,
)

from mamori.app import bootstrap, build_services
from mamori.config import Settings

HERE = Path(__file__).resolve().parent
SERVERS = ("uvicorn", "granian")


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, workers=1)


def granian_app() -> object:
    """Granian's factory: the gateway on the data dir the parent prepared."""
    from request_path import build_gateway

    settings = settings_for(Path(os.environ["MAMORI_BENCH_DATA"]))
    return build_gateway(settings, build_services(settings))


def run_uvicorn(data_dir: Path, port: int) -> None:
    """uvicorn as ``mamori server`` configures it (httptools, bounded heads, uvloop)."""
    from request_path import build_gateway

    from mamori.app import _Server, _uvicorn_config

    settings = settings_for(data_dir)
    gateway = build_gateway(settings, build_services(settings))
    config = _uvicorn_config(gateway, gateway, settings, port, None, settings.max_connections)
    _Server(config).run()


def start(kind: str, data_dir: Path, workdir: Path) -> Server:
    port = free_port()
    run_dir = workdir / f"run-{kind}-{port}"
    run_dir.mkdir()
    # A fresh nonce table per server process: each gets its own copy of the data dir's files.
    shutil.copytree(data_dir, run_dir / "data")
    if kind == "uvicorn":
        command = [
            sys.executable,
            "-c",
            "import sys, http_servers; "
            "http_servers.run_uvicorn(http_servers.Path(sys.argv[1]), int(sys.argv[2]))",
            str(run_dir / "data"),
            str(port),
        ]
    else:
        command = [
            str(Path(sys.executable).parent / "granian"),
            "--interface=asgi",
            "--host=127.0.0.1",
            f"--port={port}",
            "--workers=1",
            "--runtime-threads=1",
            "--runtime-mode=st",
            "--loop=uvloop",
            "--http=1",
            "--no-ws",
            "--log-level=warning",
            "--factory",
            "http_servers:granian_app",
        ]
    log_path = run_dir / "server.log"
    env = {**os.environ, "MAMORI_BENCH_DATA": str(run_dir / "data"), "PYTHONPATH": str(HERE)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=HERE, env=env)
    deadline = time.monotonic() + 60
    while health_status(port) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{kind} did not start; see {log_path}")
        time.sleep(0.1)
    return Server(process, port, run_dir / "data", log_path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60_000, help="per server (both halves)")
    parser.add_argument("--duration", type=int, default=6, help="seconds per server and load")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    workdir = Path(tempfile.mkdtemp(prefix="mamori-bench-http-"))
    try:
        data_dir = workdir / "data"
        settings = settings_for(data_dir)
        services = build_services(settings)
        bootstrap(services, settings)
        services.db.close()
        access_key_id, secret = read_credentials(data_dir)
        # Both servers run side by side, each on its own copy of the data, so the A B B A
        # halves need no restart; the idle one costs nothing.
        servers: dict[str, Server] = {}
        try:
            for kind in SERVERS:
                servers[kind] = start(kind, data_dir, workdir)
            loads = {
                kind: make_load(
                    f"Encrypt, {kind}",
                    encrypt_workload(new_sdk(server.endpoint, access_key_id, secret), 1024),
                    access_key_id,
                    secret,
                )
                for kind, server in servers.items()
            }
            order = [*SERVERS, *reversed(SERVERS)]
            batches = []
            for index, kind in enumerate(order):
                batch = workdir / f"requests-{index}"
                generate(
                    batch, args.requests // 2, args.threads, loads[kind], servers[kind].endpoint
                )
                batches.append(batch)
            encrypts: dict[str, list[WrkResult]] = {kind: [] for kind in SERVERS}
            healths: dict[str, list[WrkResult]] = {kind: [] for kind in SERVERS}
            half = max(1, args.duration // 2)
            common = {"threads": args.threads, "connections": args.connections, "duration": half}
            for kind, batch in zip(order, batches, strict=True):
                server = servers[kind]
                encrypts[kind].append(replay(server, loads[kind].name, batch, **common))
                healths[kind].append(replay(server, f"/health, {kind}", None, **common))
            results = [merge(encrypts[kind]) for kind in SERVERS]
            health = [merge(healths[kind]) for kind in SERVERS]
            print()
            print_report(
                [*results, *health],
                None,
                0,
                [
                    ("granian/uvicorn Encrypt", results[1].name, results[0].name),
                    ("granian/uvicorn /health", health[1].name, health[0].name),
                    ("Encrypt/health, uvicorn", results[0].name, health[0].name),
                    ("Encrypt/health, granian", results[1].name, health[1].name),
                ],
            )
            failures = []
            for index, kind in enumerate(SERVERS):
                failures += check_run([loads[kind]], [results[index]], health[index])
            return 1 if failures else 0
        finally:
            # The sampled ciphertexts are checked by decrypting them on their server.
            for server in servers.values():
                stop_server(server.process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
