"""Coverage-guided fuzzing of Mamori's parsers with atheris (libFuzzer for Python).

Each target (``tests/fuzz/targets.py``) runs in its own process, instrumented, from its seeds,
for ``--runs`` inputs; a target whose input raises anything but its documented error stops
with the input saved under ``--artifacts``. Prints inputs, time and inputs/s per target.

Run: ``.venv/bin/python benchmarks/fuzz.py --runs 1000000`` (all targets, one after the other)
or ``--target policy``. The figures go in docs/security.md ("Parsers under fuzzing").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(name: str, runs: int, artifacts: Path, max_len: int = 4096) -> tuple[int, str]:
    """Fuzz one target for ``runs`` inputs in a child process; its exit code and output."""
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        child = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            name,
            f"-runs={runs}",
            f"-max_len={max_len}",
            f"-artifact_prefix={artifacts}/{name}-",
            "-print_final_stats=1",
            corpus,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(child, capture_output=True, text=True, env=env, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


def _child(name: str, argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["mamori"]):
        from tests.fuzz import targets
    corpus = Path(argv[-1])
    for n, seed in enumerate(targets.SEEDS.get(name, [])):
        (corpus / f"seed-{n}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *argv], targets.TARGETS[name])
    atheris.Fuzz()


def main() -> int:
    """Fuzz the chosen targets and print one line each."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3:])
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--target", action="append", choices=sorted(TARGETS))
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    args = parser.parse_args()
    args.artifacts.mkdir(exist_ok=True)
    failed = 0
    for name in args.target or list(TARGETS):
        started = time.monotonic()
        code, output = run_one(name, args.runs, args.artifacts.resolve())
        took = time.monotonic() - started
        verdict = "ok" if code == 0 else f"CRASH (exit {code})"
        rate = args.runs / took
        print(f"{name:20} {args.runs:>10,} inputs  {took:8.1f} s  {rate:>9,.0f}/s  {verdict}")
        if code != 0:
            failed += 1
            print(output[-4000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
