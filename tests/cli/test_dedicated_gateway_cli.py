"""The ``mamori`` command with a client key: ``encrypt``, ``decrypt``, ``data-key`` and
``secrets get`` through the dedicated gateway of a real server, their results interchangeable
with the shared gateway's, and the commands it cannot serve refused with a clear reason."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mamori.client import Client
from tests.cli.people import environ, invoke
from tests.conftest import ServerProcess
from tests.dedicated_access import SECRET_VALUE, Dedicated, dedicated_access

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def world(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Dedicated:
    return dedicated_access(server, tmp_path_factory.mktemp("cli-client-key"))


def with_key(server: ServerProcess, world: Dedicated, **extra: str) -> dict[str, str]:
    """A shell holding a client key and no AccessKey at all."""
    env = environ(server, MAMORI_CLIENT_KEY_FILE=str(world.key_file), **extra)
    env["ALIBABA_CLOUD_CREDENTIALS_FILE"] = "/nonexistent/credentials"
    return env


def run(server: ServerProcess, env: dict[str, str], *args: str) -> Any:
    return invoke(server, *args, env=env)


def test_files_sealed_through_either_gateway_open_through_the_other(
    server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    env = with_key(server, world, MAMORI_CLIENT_KEY_PASSWORD_FILE=str(world.password_file))
    plain = tmp_path / "report.bin"
    plain.write_bytes(os.urandom(5000))
    done = run(server, env, "encrypt", "-f", str(plain), "-k", world.key_id, "--context", "a=b")
    assert done.exit_code == 0, done.stderr
    sealed = tmp_path / "report.bin.mamori"
    out = tmp_path / "by-client-key"
    done = run(server, env, "decrypt", "-f", str(sealed), "-o", str(out), "--context", "a=b",
               "--key", world.key_id)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert out.read_bytes() == plain.read_bytes()
    assert f"with key {world.key_id}" in done.stderr
    # The administrator's AccessKey opens it through the shared gateway.
    shared = invoke(server, "decrypt", "-f", str(sealed), "-o", str(tmp_path / "by-ak"),
                    "--context", "a=b")  # fmt: skip
    assert shared.exit_code == 0, shared.stderr
    assert (tmp_path / "by-ak").read_bytes() == plain.read_bytes()
    wrong = run(server, env, "decrypt", "-f", str(sealed), "-o", str(tmp_path / "x"),
                "--context", "a=c")  # fmt: skip
    assert wrong.exit_code == 4
    alias = run(server, env, "decrypt", "-f", str(sealed), "-o", str(tmp_path / "y"),
                "--context", "a=b", "--key", "alias/anything")  # fmt: skip
    assert alias.exit_code == 2
    assert "with a client key, --key takes a key id" in alias.stderr


def test_data_keys_and_secrets(server: ServerProcess, world: Dedicated) -> None:
    env = with_key(server, world, MAMORI_CLIENT_KEY_PASSWORD=world.access.password)
    done = run(server, env, "data-key", world.key_id, "--show-plaintext", "--context", "k=v",
               "--json")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["KeyId"] == world.key_id
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as kms:
        opened = kms.call(
            "Decrypt", CiphertextBlob=made["CiphertextBlob"], EncryptionContext='{"k":"v"}'
        )
    assert opened["Plaintext"] == made["Plaintext"]
    hidden = run(server, env, "data-key", world.key_id, "--json")
    assert "Plaintext" not in json.loads(hidden.stdout)

    done = run(server, env, "secrets", "get", world.secret, "--reveal", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["SecretData"] == SECRET_VALUE
    refused = run(server, env, "secrets", "get", world.other_secret)
    assert refused.exit_code == 1
    assert "Forbidden.NoPermission: This operation is forbidden by permission system." in (
        refused.stderr
    )


def test_what_a_client_key_cannot_do(
    server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    env = with_key(server, world, MAMORI_CLIENT_KEY_PASSWORD=world.access.password)
    done = run(server, env, "keys", "list")
    assert done.exit_code == 2
    assert "this command needs an AccessKey" in done.stderr
    done = run(server, env, "--protocol", "http", "data-key", world.key_id)
    assert (done.exit_code, "speaks https only" in done.stderr) == (2, True)
    wrong = tmp_path / "wrong.txt"
    wrong.touch(mode=0o600)
    wrong.write_text("Not-the-password-1")
    env = with_key(server, world)
    done = run(server, env, "--client-key-password-file", str(wrong), "data-key", world.key_id)
    assert done.exit_code == 2
    assert "is not a ClientKeyContent this password opens" in done.stderr
    assert "Not-the-password-1" not in done.stderr
    done = run(server, env, "data-key", world.key_id)
    assert done.exit_code == 2
    assert "no client key password" in done.stderr


def test_the_flags_name_the_key_too(server: ServerProcess, world: Dedicated) -> None:
    env = environ(server)
    env["ALIBABA_CLOUD_CREDENTIALS_FILE"] = "/nonexistent/credentials"
    done = run(server, env, "--client-key-file", str(world.key_file), "--client-key-password-file",
               str(world.password_file), "secrets", "get", world.secret, "--json")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["SecretName"] == world.secret and got["SecretData"] != SECRET_VALUE  # hidden
