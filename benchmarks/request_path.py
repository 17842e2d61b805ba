"""The shared gateway's request path in process: SDK-signed 1 KiB Encrypts (or RSA_2048
AsymmetricSigns) through the ASGI app, without the HTTP server, for profiles and instruction
counts that the noisy machine can't spoil.

    .venv/bin/python benchmarks/request_path.py                 # µs per request
    .venv/bin/python benchmarks/request_path.py --profile tottime  # where the time goes
    .venv/bin/python benchmarks/request_path.py --multiprocess  # metrics as with --workers 2
    # instruction counts: the difference between two request counts is the path alone
    # (both sign the same 3,000 requests; the second sends 2,000 more of them)
    valgrind --tool=callgrind --callgrind-out-file=/tmp/a.out \\
        .venv/bin/python benchmarks/request_path.py --requests 3000 --send 1000 --repeat 1
    valgrind --tool=callgrind --callgrind-out-file=/tmp/b.out \\
        .venv/bin/python benchmarks/request_path.py --requests 3000 --send 3000 --repeat 1

The requests are made the way ``encrypt.py`` makes them (captured from the SDK, rebuilt and
signed with the SDK's own signer), and each response must be a 200.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import os
import pstats
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alibabacloud_kms20160120 import models as kms_models
from encrypt import build_request, capture_sdk_request, self_check

from mamori.api.registry import catalogue
from mamori.app import Services, _action_names, bootstrap, build_services, node_name
from mamori.audit import AuditLog, Encoder
from mamori.config import Settings
from mamori.core.keys import NewKey
from mamori.core.refs import Scope
from mamori.gateway.asgi import ASGIScope
from mamori.gateway.metrics import Metrics, prepare_multiprocess
from mamori.gateway.pop.app import PopGateway
from mamori.gateway.pop.nonces import ReplayGuard, node_table
from mamori.gateway.trail import Trail

HOST = "127.0.0.1:8080"


def to_scope(raw: bytes) -> ASGIScope:
    """The ASGI scope uvicorn would hand over for one raw, body-less request."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    method, target, _ = head[0].split(b" ")
    path, _, query = target.partition(b"?")
    headers = [(n.strip().lower(), v.strip()) for n, v in (h.split(b":", 1) for h in head[1:])]
    return {
        "type": "http",
        "method": method.decode(),
        "path": path.decode(),
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }


def variant(args: argparse.Namespace) -> dict[str, str]:
    """The query parameters that differ between requests."""
    if args.action == "Encrypt":
        return {"Plaintext": base64.b64encode(os.urandom(args.plaintext_bytes)).decode()}
    return {"Digest": base64.b64encode(hashlib.sha256(os.urandom(16)).digest()).decode()}


def build_gateway(settings: Settings, services: Services, audit: AuditLog | None) -> PopGateway:
    """The shared gateway as ``mamori server`` makes it for one worker (its nonce table in
    ``settings.data_dir``), with metrics, and the audit log when ``audit`` is given."""
    metrics = Metrics(_action_names())
    trail = Trail(audit, Encoder(node_name(settings), settings.region), metrics)
    return PopGateway(
        catalogue=catalogue(),
        services=services,
        access_keys=services.access_keys,
        tokens=services.tokens,
        live_roles=services.live_roles,
        region=settings.region,
        nonces=ReplayGuard(node_table(settings.data_dir / "nonces.lock", 1_000_000)),
        executor=ThreadPoolExecutor(max_workers=8),
        token_executor=ThreadPoolExecutor(max_workers=2),
        trail=trail,
        max_body_bytes=settings.max_body_bytes,
        host_id=f"kms.{settings.region}.aliyuncs.com",
    )


def main() -> int:
    """Sign the requests, run them through the gateway, print µs per request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--send", type=int, help="send only the first SEND of each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of --requests (best kept)")
    parser.add_argument("--plaintext-bytes", type=int, default=1024)
    parser.add_argument(
        "--action",
        choices=["Encrypt", "AsymmetricSign"],
        default="Encrypt",
        help="AsymmetricSign: RSA_2048, RSA_PKCS1_SHA_256",
    )
    parser.add_argument(
        "--profile",
        choices=["tottime", "cumulative"],
        help="profile the last run with cProfile, sorted so",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="append every request's record to a real audit chain in the temp dir",
    )
    parser.add_argument(
        "--keyed",
        action="store_true",
        help="with --audit, MAC every record under a key, as a server does",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (with --audit, records share syncs)",
    )
    parser.add_argument(
        "--tick-per-request",
        action="store_true",
        help="yield to the event loop after each request",
    )
    parser.add_argument(
        "--multiprocess",
        action="store_true",
        help="metrics in prometheus-client's multi-process mode, as with --workers 2 or more",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        if args.multiprocess:
            prepare_multiprocess(Path(temp) / "metrics")
        settings = Settings(data_dir=Path(temp), workers=1)
        services = build_services(settings)
        created = bootstrap(services, settings)
        assert created is not None
        access_key_id, secret = created
        scope = Scope(settings.region, settings.account_id)
        if args.action == "Encrypt":
            key_id = services.keys.create(scope, "bench", NewKey()).id
            template = capture_sdk_request(
                access_key_id,
                secret,
                lambda client: client.encrypt(
                    kms_models.EncryptRequest(key_id=key_id, plaintext="aGVsbG8=")
                ),
                {"CiphertextBlob": "x", "KeyId": key_id, "KeyVersionId": "v"},
            )
        else:
            record = services.keys.create(
                scope, "bench", NewKey(spec="RSA_2048", usage="SIGN/VERIFY")
            )
            version_id = record.primary_version_id
            template = capture_sdk_request(
                access_key_id,
                secret,
                lambda client: client.asymmetric_sign(
                    kms_models.AsymmetricSignRequest(
                        key_id=record.id,
                        key_version_id=version_id,
                        algorithm="RSA_PKCS1_SHA_256",
                        digest=base64.b64encode(bytes(32)).decode(),
                    )
                ),
                {"KeyId": record.id, "KeyVersionId": version_id, "Value": ""},
            )
        self_check(template, access_key_id, secret)
        date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        runs = []
        for _ in range(args.repeat):
            runs.append(
                [
                    to_scope(
                        build_request(
                            template,
                            host=HOST,
                            params=variant(args),
                            date=date,
                            nonce=uuid.uuid4().hex,
                            access_key_id=access_key_id,
                            secret=secret,
                        )
                    )
                    for _ in range(args.requests)
                ]
            )
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def lane(gateway: PopGateway, scopes: list[ASGIScope]) -> None:
            for scope in scopes:
                await gateway(scope, receive, send)

        async def ticking_lane(gateway: PopGateway, scopes: list[ASGIScope]) -> None:
            # Each request in an event-loop tick of its own, as when requests arrive apart
            # (an Encrypt without the audit log never waits, so a lane runs in one tick).
            for scope in scopes:
                await gateway(scope, receive, send)
                await asyncio.sleep(0)

        async def run(scopes: list[ASGIScope]) -> float:
            # Each run its own gateway and, with --audit, the chain reopened on this run's loop.
            audit = None
            if args.audit:
                audit = AuditLog(
                    settings.audit_dir,
                    "bench-w0",
                    observe_sync=lambda _seconds, records: syncs.append(records),
                    mac_key=os.urandom(32) if args.keyed else None,
                )
                audit.open()
                audit.start(asyncio.get_running_loop())
            gateway = build_gateway(settings, services, audit)
            start, cpu = time.perf_counter(), time.process_time()
            lanes = args.concurrency
            each = ticking_lane if args.tick_per_request else lane
            await asyncio.gather(*(each(gateway, scopes[i::lanes]) for i in range(lanes)))
            if audit is not None:
                await audit.drain()
            elapsed = time.perf_counter() - start
            cpus.append(time.process_time() - cpu)
            if audit is not None:
                # A writer thread's CPU, measured apart, when the log has one.
                writer = getattr(audit, "_thread", None)
                if writer is not None and writer.ident is not None:
                    clock = time.pthread_getcpuclockid(writer.ident)
                    writer_cpus.append(time.clock_gettime(clock))
                audit.close()
            return elapsed

        best = float("inf")
        cpus: list[float] = []  # process CPU (every thread) of each run
        writer_cpus: list[float] = []  # of those, the audit writer thread's
        syncs: list[int] = []  # with --audit, the records of each sync
        sent = min(args.send or args.requests, args.requests)
        runs = [scopes[:sent] for scopes in runs]
        for index, scopes in enumerate(runs):
            if args.profile and index == len(runs) - 1:
                with cProfile.Profile() as profiler:
                    asyncio.run(run(scopes))
                pstats.Stats(profiler).sort_stats(args.profile).print_stats(40)
                if os.environ.get("PROFILE_OUT"):
                    profiler.dump_stats(os.environ["PROFILE_OUT"])
                continue
            best = min(best, asyncio.run(run(scopes)))
        services.db.close()
    if set(statuses) != {200}:
        raise SystemExit(f"non-200 responses: {sorted(set(statuses))}")
    if best != float("inf"):
        print(
            f"{best / sent * 1e6:.1f} µs per {args.action} (best of {args.repeat}), "
            f"process CPU {min(cpus) / sent * 1e6:.1f} µs"
            + (f", audit writer {min(writer_cpus) / sent * 1e6:.1f} µs" if writer_cpus else "")
            + (f", {sum(syncs) / len(syncs):.1f} records per sync" if syncs else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
