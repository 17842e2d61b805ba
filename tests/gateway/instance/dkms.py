"""The official instance-API SDKs, in a venv of their own: ``alibabacloud-dkms-gcs`` and the
unified ``alibabacloud-kms-python-sdk`` built on it (with ``alibabacloud-dkms-transfer-python``,
the transfer layer the Secrets client v1 uses).

dkms-gcs 1.0.2 pins ``protobuf<4`` and ``pyopenssl<23.3`` (hence ``cryptography`` 41), and
kms-python-sdk 1.1.3 ``protobuf<3.20``: they clash with Mamori's own pins, so they never share
Mamori's environment. A session fixture builds one venv for the three with plain ``pip`` from
the configured index (cached in the pytest cache dir, as for the legacy Secrets client; about
ten seconds on a fresh machine), and ``run_sdk`` drives ``dkms_driver.py`` there in a subprocess.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.own_venv import own_venv

REQUIREMENTS = (
    "alibabacloud-dkms-gcs==1.0.2",
    "alibabacloud-kms-python-sdk==1.1.3",
    "alibabacloud-dkms-transfer-python==0.1.2",
)
DRIVER = Path(__file__).with_name("dkms_driver.py")


@pytest.fixture(scope="session")
def dkms_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv holding only the official instance SDKs (built once, cached)."""
    return own_venv(request, tmp_path_factory, "dkms-gcs-venv", REQUIREMENTS)


def run_sdk(python: Path, op: str, **payload: Any) -> dict[str, Any]:
    """Run one driver operation with the SDK and return its JSON answer."""
    proc = subprocess.run(
        [str(python), str(DRIVER)],
        input=json.dumps({"op": op, **payload}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(f"dkms driver {op!r} exited {proc.returncode}:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def b64(data: bytes) -> str:
    """Bytes as the driver takes them."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes as the driver returns them."""
    return base64.b64decode(text)
