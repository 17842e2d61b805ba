"""The metrics of one request alone, one request per event-loop tick (the worst case for
``Metrics``' batching), on uvloop as the server runs, in multi-process mode as with
``--workers 2``. Instruction counts: the difference between two iteration counts is the loop
alone; run once more with ``--bare`` (no request counted) to take the loop's own cost out.

    for n in 2000 6000; do
      valgrind --tool=callgrind --callgrind-out-file=/tmp/m.$n.out \\
          .venv/bin/python benchmarks/metrics_micro.py $n          # and again with --bare
    done   # (Ir of m.6000 - Ir of m.2000) / 4000 = instructions per iteration
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import uvloop

from mamori.gateway.metrics import Metrics, prepare_multiprocess


def main() -> int:
    """Count ITERATIONS requests, each in a tick of its own."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("iterations", type=int)
    parser.add_argument("--bare", action="store_true", help="only the ticks, nothing counted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        prepare_multiprocess(Path(temp) / "metrics")
        metrics = Metrics(frozenset({"Encrypt"}))

        async def run() -> None:
            for i in range(args.iterations):
                if not args.bare:
                    metrics.request("pop", "Encrypt", "Success", 0.0007 + (i % 3) * 0.001)
                await asyncio.sleep(0)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
