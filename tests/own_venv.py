"""Official clients whose pins clash with Mamori's run from a venv of their own.

Such a venv is built once with plain ``pip`` from the configured index and cached in the
pytest cache dir (a temp dir with ``-p no:cacheprovider``). Under pytest-xdist every worker
that needs it asks at once: a lock file beside the venv lets one build it while the others
wait, then reuse it. A failed install fails the run in CI and skips elsewhere.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def own_venv(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    requirements: tuple[str, ...],
) -> Path:
    """The interpreter of the venv ``name`` holding only ``requirements``."""
    cache: pytest.Cache | None = getattr(request.config, "cache", None)
    venv = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    with (venv.parent / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return build_venv(venv, requirements)


def build_venv(venv: Path, requirements: tuple[str, ...]) -> Path:
    """The interpreter of a venv at ``venv`` holding only ``requirements`` (built once, reused)."""
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    wanted = " ".join(requirements)
    if stamp.is_file() and stamp.read_text() == wanted and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        detail = exc.stderr if isinstance(exc.stderr, str) else ""
        message = f"cannot install {wanted} in its own venv: {exc}\n{detail}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    stamp.write_text(wanted)
    return python
