"""``mamori iam`` against a running server: the operator's view of RAM."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.conftest import ROOT, ServerProcess


def mamori(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against ``server``, as an operator on its machine would."""
    env = {**os.environ, "MAMORI_PORT": str(server.port), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", "iam", "--data-dir", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_users_keys_groups_and_policies(server: ServerProcess) -> None:
    user = f"cli-{uuid.uuid4().hex[:8]}"
    group = f"grp-{uuid.uuid4().hex[:8]}"
    assert mamori(server, "users", "create", user).returncode == 0
    assert user in mamori(server, "users", "list").stdout
    created = mamori(server, "access-keys", "create", "--user", user)
    assert created.returncode == 0 and "LTAI" in created.stdout
    listed = mamori(server, "access-keys", "list", "--user", user)
    assert "Active" in listed.stdout
    assert mamori(server, "groups", "create", group).returncode == 0
    assert mamori(server, "groups", "add-user", group, user).returncode == 0
    attached = mamori(
        server, "policies", "attach", "AliyunKMSCryptoUserAccess", "--type", "System",
        "--group", group,
    )  # fmt: skip
    assert attached.returncode == 0, attached.stdout + attached.stderr
    assert "AliyunKMSCryptoUserAccess" in mamori(server, "policies", "list").stdout

    refused = mamori(server, "users", "delete", user)
    assert refused.returncode == 1 and "DeleteConflict.User" in refused.stderr


def test_an_error_is_reported_with_its_code(server: ServerProcess) -> None:
    result = mamori(server, "users", "delete", "no-such-user")
    assert result.returncode == 1
    assert "EntityNotExist.User" in result.stderr
