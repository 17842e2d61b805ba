"""``mamori instances`` against a running server: the operator's view of KMS instances."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from alibabacloud_kms20160120 import models as km

from tests.compat.sdk import new_sdk
from tests.conftest import ROOT, ServerProcess


def mamori(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against ``server``, as an operator on its machine would."""
    env = {**os.environ, "MAMORI_PORT": str(server.port), "COLUMNS": "200"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mamori.cli",
            "instances",
            "--data-dir",
            str(server.data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_create_describe_update_list_and_release(server: ServerProcess) -> None:
    made = _json(
        mamori(server, "create", "--name", "cli", "--qps", "2000", "--key-quota", "1",
               "--secret-quota", "0", "--json")
    )  # fmt: skip
    assert isinstance(made, dict)
    instance = made["InstanceId"]
    assert re.fullmatch(r"kst-[a-z0-9]{21}", instance)
    assert (made["Spec"], made["KeyNum"], made["SecretNum"], made["Keys"]) == (2000, 1, "0", "0/1")
    assert made["KmsInstanceArn"].endswith(f":keystore/{instance}")
    assert made["Default"] is False

    # The quota the CLI set is the one the API enforces.
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    kms.create_key(km.CreateKeyRequest(dkmsinstance_id=instance))
    described = _json(mamori(server, "describe", instance, "--json"))
    assert isinstance(described, dict) and described["Keys"] == "1/1"
    assert described["CaCertificateChainPem"] == server.ca_file.read_text("ascii")

    updated = _json(
        mamori(server, "update", instance, "--qps", "4000", "--key-quota", "5", "--json")
    )
    assert isinstance(updated, dict) and (updated["Spec"], updated["Keys"]) == (4000, "1/5")

    table = mamori(server, "list")
    assert table.returncode == 0 and instance in table.stdout and "KMS instances" in table.stdout
    listed = _json(mamori(server, "list", "--json"))
    assert isinstance(listed, list)
    assert sum(1 for i in listed if i["Default"]) == 1
    assert instance in {i["InstanceId"] for i in listed}

    refused = mamori(server, "release", instance)
    assert refused.returncode == 1 and "Forbidden.DKMSInstanceStateInvalid" in refused.stderr

    empty = _json(mamori(server, "create", "--json"))
    assert isinstance(empty, dict) and (empty["Spec"], empty["Keys"]) == (1000, "0/1000")
    released = mamori(server, "release", empty["InstanceId"])
    assert released.returncode == 0 and "released" in released.stdout
    gone = mamori(server, "describe", empty["InstanceId"])
    assert gone.returncode == 1 and "Forbidden.DKMSInstanceNotFound" in gone.stderr


def test_bad_figures_are_reported_with_their_code(server: ServerProcess) -> None:
    result = mamori(server, "create", "--qps", "0")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith('InvalidParameter: The specified parameter "Spec"')
    table = mamori(server, "describe", "kst-nope")
    assert table.returncode == 1 and table.stderr.startswith("Forbidden.DKMSInstanceNotFound: ")
