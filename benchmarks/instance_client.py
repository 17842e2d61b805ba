"""Mamori's own client on both gateways, one call at a time: ``InstanceClient`` (dedicated
gateway: protobuf, an RSA-2048 client-key signature per request) against ``Client`` (shared
gateway: JSON, ACS3-HMAC-SHA256), both ``Encrypt`` of 64 bytes over HTTPS to one real server,
alternating rounds in one run. Reports median and p99 latency, calls/s, and the ratio of the
medians (the shared gateway's client is the baseline).

    .venv/bin/python benchmarks/instance_client.py --calls 400 --rounds 2
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import ServerProcess, free_port
from tests.dedicated_access import dedicated_access

from mamori.client import Client, InstanceClient, load_client_key
from mamori.wire import instance as api

PLAINTEXT = b"x" * 64


def timed(calls: int, call: Callable[[], object]) -> list[float]:
    """Seconds per call, after one warm-up call (the TLS handshake)."""
    call()
    spent = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mamori-bench-"))
    url = f"sqlite:///{tmp / 'data' / 'mamori.db'}"
    server = ServerProcess("sqlite", tmp / "data", url, free_port(), free_port())
    server.start()
    try:
        world = dedicated_access(server, tmp)
        key = load_client_key(world.key_file, world.access.password)
        shared = Client(
            server.tls_endpoint,
            server.access_key_id,
            server.access_key_secret,
            ca_file=server.ca_file,
        )
        instance = InstanceClient(server.tls_endpoint, key, ca_file=server.ca_file)
        encoded = base64.b64encode(PLAINTEXT).decode()
        results: dict[str, list[float]] = {"shared": [], "instance": []}
        with shared, instance:
            for _ in range(args.rounds):
                results["shared"] += timed(
                    args.calls,
                    lambda: shared.call("Encrypt", KeyId=world.key_id, Plaintext=encoded),
                )
                results["instance"] += timed(
                    args.calls,
                    lambda: instance.call(api.ENCRYPT, KeyId=world.key_id, Plaintext=PLAINTEXT),
                )
        for name, spent in results.items():
            spent.sort()
            print(
                f"{name:9} median {statistics.median(spent) * 1e3:.3f} ms  "
                f"p99 {spent[int(len(spent) * 0.99)] * 1e3:.3f} ms  "
                f"{len(spent) / sum(spent):.0f} calls/s"
            )
        ratio = statistics.median(results["instance"]) / statistics.median(results["shared"])
        print(f"instance / shared median latency: {ratio:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
