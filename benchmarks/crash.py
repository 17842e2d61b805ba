"""Crash rounds: SIGKILL a loaded ``mamori server`` and prove no acknowledged write is lost.

Each round: ``--clients`` official-SDK clients write (CreateKey, Encrypt, CreateSecret,
PutSecretValue, RAM CreateUser) for 0.4–1.5 s, the server gets SIGKILL, restarts on the same data
dir and store, and every acknowledged write is checked: keys Enabled, ciphertexts decrypt to
their plaintexts, secret versions hold their values, users exist, the audit chain verifies (a
record torn by the kill is sealed at the restart) and holds a record of every acknowledged
request (``tests/store/crash_load.py``).

Run: ``.venv/bin/python benchmarks/crash.py --rounds 50 --backend sqlite`` (or ``postgres``,
which needs the PostgreSQL of the tests at 127.0.0.1:5432). Exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import (
    ServerProcess,
    create_pg_database,
    drop_pg_database,
    free_port,
)
from tests.store.crash_load import crash_round


def main() -> int:
    """Run the rounds and print one line each, then a total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="mamori-crash-") as tmp:
        data = Path(tmp) / "data"
        pg = create_pg_database() if args.backend == "postgres" else None
        url = pg.url if pg else f"sqlite:///{data / 'mamori.db'}"
        server = ServerProcess(args.backend, data, url, free_port(), free_port())
        server.start()
        total, lost, started = 0, 0, time.monotonic()
        try:
            for n in range(1, args.rounds + 1):
                result = crash_round(server, args.clients, rng)
                total += result.acknowledged
                lost += len(result.lost)
                kinds = ", ".join(f"{k} {v}" for k, v in result.by_kind.items())
                print(
                    f"round {n:3}: killed after {result.load_seconds:.2f} s; acknowledged "
                    f"{result.acknowledged} ({kinds}); lost {len(result.lost)}",
                    flush=True,
                )
                for line in result.lost[:10]:
                    print(f"    LOST: {line}")
        finally:
            server.stop()
            if pg is not None:
                drop_pg_database(pg)
    print(
        f"{args.backend}: {args.rounds} rounds, {total} acknowledged writes checked, "
        f"{lost} lost, {time.monotonic() - started:.0f} s"
    )
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
