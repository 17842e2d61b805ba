"""Reading a server's audit log the way an operator does: ``mamori audit`` on its data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT


def audit_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mamori audit ARGS --data-dir DATA_DIR``, its output captured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", "audit", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def find(data_dir: Path, *criteria: str) -> list[dict[str, Any]]:
    """Every request record matching ``criteria`` (``search`` options), oldest first."""
    done = audit_cli(data_dir, "search", "--limit", "0", "--json", *criteria)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def wait_for(data_dir: Path, *criteria: str, count: int = 1) -> list[dict[str, Any]]:
    """``find``, retried briefly: a response is sent only after its record is durable, but a
    refusal the SDK retries may still be on its way."""
    deadline = time.monotonic() + 10
    while True:
        found = find(data_dir, *criteria)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def verified(data_dir: Path, *args: str) -> str:
    """``mamori audit verify ARGS`` output, asserting every chain verifies with every MAC
    checked (the audit key opened from the data dir's store and root key, or ``--store-url``)."""
    done = audit_cli(data_dir, "verify", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hash chain only" not in done.stdout, done.stdout
    return done.stdout
