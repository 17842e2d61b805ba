"""A short coverage-guided run of every fuzz target (``benchmarks/fuzz.py``; the long runs'
figures are in docs/security.md): no input may raise anything but its documented error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.fuzz.targets import TARGETS

RUNS = 3000


def test_every_parser_survives_a_short_fuzzing_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/fuzz.py", "--runs", str(RUNS), "--artifacts", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(TARGETS)
    assert all(line.endswith(" ok") for line in lines), done.stdout
    assert list(tmp_path.iterdir()) == []  # no crashing input saved
