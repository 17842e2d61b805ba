"""How the client commands find the server and their credentials, and every way that fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.people import environ, invoke, run
from tests.conftest import ROOT, FirstBytes, ServerProcess, free_port, own_address

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

# Everything the server is made of; a client command must load none of it.
SERVER = ("mamori.core", "mamori.store", "mamori.iam", "mamori.api", "mamori.gateway",
          "mamori.seal", "mamori.hsm", "mamori.audit", "mamori.app", "mamori.config")  # fmt: skip


def _profile(tmp_path: Path, server: ServerProcess, body: str, mode: int = 0o600) -> Path:
    path = tmp_path / "credentials"
    path.write_text(body)
    path.chmod(mode)
    return path


def test_a_client_command_imports_no_server_code(server: ServerProcess) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mamori.cli", "keys", "list", "--json"],
        capture_output=True, text=True, env=environ(server), cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "mamori.cli.keys" in loaded and "mamori.client._client" in loaded
    assert sorted(m for m in loaded if m.startswith(SERVER)) == []


def test_profiles_of_the_credentials_file(server: ServerProcess, tmp_path: Path) -> None:
    admin = (server.data_dir / "admin.credentials").read_text()
    named = admin.replace("[default]", "[prod]") + (
        f"mamori_endpoint = {server.endpoint}\nmamori_protocol = http\n"
    )
    path = _profile(tmp_path, server, named)
    env = {k: v for k, v in environ(server).items() if not k.startswith("MAMORI_")}
    env["ALIBABA_CLOUD_CREDENTIALS_FILE"] = str(path)
    ok = invoke(server, "--profile", "prod", "keys", "list", "--json", env=env)
    assert ok.exit_code == 0, ok.stderr
    by_env = invoke(server, "keys", "list", "--json", env={**env, "ALIBABA_CLOUD_PROFILE": "prod"})
    assert by_env.exit_code == 0, by_env.stderr
    missing = invoke(server, "keys", "list", env=env)
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"mamori: no profile [default] in {path}"


def test_the_access_key_from_the_environment(server: ServerProcess) -> None:
    env = environ(server, ALIBABA_CLOUD_ACCESS_KEY_ID=server.access_key_id,
                  ALIBABA_CLOUD_ACCESS_KEY_SECRET=server.access_key_secret,
                  ALIBABA_CLOUD_CREDENTIALS_FILE="/nonexistent")  # fmt: skip
    assert invoke(server, "keys", "list", "--json", env=env).exit_code == 0
    half = {**env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}
    refused = invoke(server, "keys", "list", env=half)
    assert refused.exit_code == 2 and refused.stderr.strip() == (
        "mamori: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"
    )


def test_unusable_settings_exit_2(server: ServerProcess, tmp_path: Path) -> None:
    admin = (server.data_dir / "admin.credentials").read_text()
    open_file = _profile(tmp_path, server, admin, mode=0o644)
    env = environ(server, ALIBABA_CLOUD_CREDENTIALS_FILE=str(open_file))
    loose = invoke(server, "keys", "list", env=env)
    assert loose.exit_code == 2 and loose.stderr.strip() == (
        f"mamori: {open_file} is open to other users (mode 0644); run: chmod 600 {open_file}"
    )
    role = _profile(tmp_path, server, "[default]\ntype = ecs_ram_role\nrole_name = x\n")
    kind = invoke(
        server, "keys", "list", env=environ(server, ALIBABA_CLOUD_CREDENTIALS_FILE=str(role))
    )
    assert kind.exit_code == 2 and kind.stderr.strip() == (
        f"mamori: profile [default] in {role} is of type 'ecs_ram_role'; "
        "mamori reads access_key profiles"
    )
    none = invoke(
        server, "keys", "list", env=environ(server, ALIBABA_CLOUD_CREDENTIALS_FILE="/nope")
    )
    assert none.exit_code == 2 and none.stderr.startswith("mamori: no credentials file at /nope")
    scheme = invoke(server, "--endpoint", "https://x:1", "keys", "list")
    assert scheme.exit_code == 2 and "HOST:PORT without a scheme" in scheme.stderr
    protocol = invoke(server, "--protocol", "ftp", "keys", "list")
    assert protocol.stderr.strip() == "mamori: the protocol must be http or https, not 'ftp'"
    ca = invoke(server, "--ca-file", str(tmp_path / "none.pem"), "keys", "list")
    assert (
        ca.exit_code == 2
        and ca.stderr.strip() == f"mamori: no CA certificate at {tmp_path / 'none.pem'}"
    )


def test_an_unreachable_server_exits_3(server: ServerProcess) -> None:
    port = free_port()
    result = run(server, "--endpoint", f"127.0.0.1:{port}", "keys", "list")
    assert result.returncode == 3
    assert result.stderr.startswith(f"mamori: cannot reach https://127.0.0.1:{port}: ConnectError")
    untrusted = run(server, "keys", "list", env={**environ(server), "MAMORI_CA_FILE": ""})
    assert untrusted.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_plain_http_and_the_server_data_dir(server: ServerProcess) -> None:
    plain = invoke(server, "--endpoint", server.endpoint, "--protocol", "http", "keys", "list")
    assert plain.exit_code == 0, plain.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMORI_", "ALIBABA_"))}
    env["MAMORI_PORT"] = str(server.port)
    local = invoke(server, "--data-dir", str(server.data_dir), "aliases", "list", "--json", env=env)
    assert local.exit_code == 0, local.stderr


def test_the_data_dir_never_sends_over_plain_http_to_another_host(server: ServerProcess) -> None:
    # The server's settings name a non-loopback address: --data-dir must not send the
    # administrator's signed requests there in clear (it uses the HTTPS listener instead).
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    plain, tls = FirstBytes(address), FirstBytes(address)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMORI_", "ALIBABA_"))}
    env.update(MAMORI_HOST=address, MAMORI_PORT=str(plain.port), MAMORI_TLS_PORT=str(tls.port))
    try:
        result = run(server, "--data-dir", str(server.data_dir), "iam", "users", "list", env=env)
    finally:
        plain.close()
        tls.close()
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.startswith(f"mamori: cannot reach https://{address}:{tls.port}: ")
    assert plain.received == []
    assert tls.received and all(b.startswith(b"\x16\x03") for b in tls.received)
    # Loopback stays plain HTTP (the server's own machine), and --protocol http is obeyed.
    env.update(MAMORI_HOST="127.0.0.1", MAMORI_PORT=str(server.port))
    local = run(server, "--data-dir", str(server.data_dir), "iam", "users", "list", env=env)
    assert local.returncode == 0, local.stderr
