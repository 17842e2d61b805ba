"""``mamori keys`` and ``mamori aliases`` against a real server, every command with --json."""

from __future__ import annotations

import uuid

import pytest

from tests.cli.people import answer, invoke
from tests.conftest import ServerProcess

# A client of the API: which store the server runs on does not matter here.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_a_key_through_its_life(server: ServerProcess) -> None:
    alias = f"alias/cli-{uuid.uuid4().hex[:8]}"
    made = answer(server, "keys", "create", "--description", "cli", "--alias", alias)
    key = made["KeyId"]
    assert (made["KeyState"], made["Aliases"], made["Description"]) == ("Enabled", alias, "cli")

    listed = answer(server, "keys", "list")
    assert {k["KeyId"]: k["Aliases"] for k in listed}[key] == alias
    described = answer(server, "keys", "describe", alias)
    assert described["KeyMetadata"]["KeyId"] == key and described["Aliases"] == [alias]
    assert len(described["KeyVersions"]) == 1 and "Statement" in described["Policy"]

    version = answer(server, "keys", "rotate", alias)
    assert version["KeyVersionId"] in {
        v["KeyVersionId"] for v in answer(server, "keys", "versions", key)
    }
    assert answer(server, "keys", "disable", key)["KeyMetadata"]["KeyState"] == "Disabled"
    assert answer(server, "keys", "enable", key)["KeyMetadata"]["KeyState"] == "Enabled"
    pending = answer(server, "keys", "schedule-deletion", key, "--days", "7")
    assert pending["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert key in {k["KeyId"] for k in answer(server, "keys", "list", "--state", "PendingDeletion")}
    assert key not in {k["KeyId"] for k in answer(server, "keys", "list", "--state", "Enabled")}
    restored = answer(server, "keys", "cancel-deletion", key)
    assert restored["KeyMetadata"]["KeyState"] == "Enabled"

    table = invoke(server, "keys", "list")
    assert table.exit_code == 0 and key in table.stdout and "Keys" in table.stdout


def test_aliases(server: ServerProcess) -> None:
    first = answer(server, "keys", "create")["KeyId"]
    second = answer(server, "keys", "create")["KeyId"]
    alias = f"alias/cli-{uuid.uuid4().hex[:8]}"
    assert answer(server, "aliases", "create", alias, first)["Result"] == "created"
    assert {a["AliasName"] for a in answer(server, "aliases", "list", "--key", first)} == {alias}
    answer(server, "aliases", "update", alias, second)
    assert {a["AliasName"]: a["KeyId"] for a in answer(server, "aliases", "list")}[alias] == second
    answer(server, "aliases", "delete", alias)
    assert alias not in {a["AliasName"] for a in answer(server, "aliases", "list")}


def test_refusals_exit_1_with_the_code_and_bad_usage_exits_2(server: ServerProcess) -> None:
    missing = invoke(server, "keys", "describe", "key-doesnotexist")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Forbidden.KeyNotFound: ")
    assert missing.stdout == ""
    bad = invoke(server, "keys", "list", "--state", "Sleeping")
    assert bad.exit_code == 2 and "--state" in bad.stderr
    key = answer(server, "keys", "create")["KeyId"]
    window = invoke(server, "keys", "schedule-deletion", key, "--days", "3")
    assert window.exit_code == 1, window.stderr
    assert window.stderr.startswith("InvalidParameter: ")
