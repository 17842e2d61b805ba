"""``mamori secrets`` against a real server: values only from a file or stdin, shown only when
asked, every command with --json."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from tests.cli.people import answer, invoke
from tests.conftest import ServerProcess

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_a_secret_through_its_life(server: ServerProcess, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = answer(server, "secrets", "create", name, "--value-file", "-", input=b"hunter2")
    assert (made["SecretName"], made["VersionId"]) == (name, "v1")
    assert name in {s["SecretName"] for s in answer(server, "secrets", "list")}

    hidden = invoke(server, "secrets", "get", name)
    assert hidden.exit_code == 0 and "hunter2" not in hidden.stdout + hidden.stderr
    assert "hidden" in hidden.stdout
    assert answer(server, "secrets", "get", name)["SecretData"] == "(hidden: --reveal shows it)"
    assert answer(server, "secrets", "get", name, "--reveal")["SecretData"] == "hunter2"

    binary = tmp_path / "value.bin"
    binary.write_bytes(b"\xff\x00\xfe")
    answer(server, "secrets", "put-value", name, "--value-file", str(binary), "--version-id", "v2")
    current = answer(server, "secrets", "get", name, "--reveal")
    assert (current["VersionId"], current["SecretDataType"]) == ("v2", "binary")
    assert base64.b64decode(current["SecretData"]) == b"\xff\x00\xfe"
    previous = answer(server, "secrets", "get", name, "--stage", "ACSPrevious", "--reveal")
    assert previous["SecretData"] == "hunter2"

    stages = {
        v["VersionId"]: v["VersionStages"] for v in answer(server, "secrets", "versions", name)
    }
    assert stages == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}
    described = answer(server, "secrets", "describe", name)
    assert described["SecretName"] == name and len(described["Versions"]) == 2
    assert "SecretData" not in described

    rotated = answer(server, "secrets", "rotate", name, "--version-id", "v3")
    assert rotated["VersionId"] == "v3"
    deleted = answer(server, "secrets", "delete", name, "--recovery-days", "7")
    assert deleted["PlannedDeleteTime"]
    answer(server, "secrets", "restore", name)
    assert answer(server, "secrets", "describe", name)["PlannedDeleteTime"] == ""
    answer(server, "secrets", "delete", name, "--force")
    gone = invoke(server, "secrets", "describe", name)
    assert gone.exit_code == 1 and gone.stderr.startswith("Forbidden.ResourceNotFound: ")


def test_an_unreadable_or_oversized_value_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    missing = invoke(server, "secrets", "create", "x", "--value-file", str(tmp_path / "none"))
    assert missing.exit_code == 2
    assert (
        missing.stderr.strip()
        == f"mamori: cannot read {tmp_path / 'none'}: No such file or directory"
    )
    big = tmp_path / "big"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    refused = invoke(server, "secrets", "create", "x", "--value-file", str(big))
    assert refused.exit_code == 2
    assert refused.stderr.strip() == "mamori: a secret value is at most 65536 bytes"
