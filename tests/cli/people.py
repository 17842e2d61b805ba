"""Running the client commands of ``mamori`` against a real server, as a person would: with
Alibaba's credentials file, an endpoint and Mamori's CA (never ``--data-dir``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mamori.cli.main import app
from tests.conftest import ROOT, ServerProcess


def environ(server: ServerProcess, **extra: str) -> dict[str, str]:
    """What a person's shell holds to reach ``server`` over HTTPS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMORI_", "ALIBABA_"))}
    env.update(
        ALIBABA_CLOUD_CREDENTIALS_FILE=str(server.data_dir / "admin.credentials"),
        MAMORI_ENDPOINT=server.tls_endpoint,
        MAMORI_CA_FILE=str(server.ca_file),
        COLUMNS="200",
    )
    env.update(extra)
    return env


def invoke(server: ServerProcess, *args: str, input: bytes | None = None,
           env: dict[str, str] | None = None) -> Any:  # fmt: skip
    """Run ``mamori ARGS`` in this process through typer's runner."""
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env or environ(server))


def answer(server: ServerProcess, *args: str, input: bytes | None = None) -> Any:
    """``mamori ARGS --json``, which must succeed; its parsed output."""
    result = invoke(server, *args, "--json", input=input)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def run(server: ServerProcess, *args: str, cwd: Path = ROOT,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``mamori ARGS`` through its real entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", *args],
        capture_output=True, text=True, env=env or environ(server), cwd=cwd, timeout=120,
        check=False,
    )  # fmt: skip
