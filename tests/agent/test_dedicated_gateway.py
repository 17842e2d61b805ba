"""``mamori agent`` with a client key: a real agent in front of a real server's dedicated gateway
(the instance API), with an instance, policy, AAP and client key an operator made through the
API, driven over HTTP as an application in any language would. The RAM credential chain is
pointed at nothing, so every answer here came through the client key."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alibabacloud_kms20160120 import models as km
from cryptography.hazmat.primitives import serialization

from mamori import envelope
from mamori.client import Client
from mamori.crypto.client_key import issue_client_key, new_key_id
from tests.agent.conftest import AgentProcess, agent_command, agent_env
from tests.compat.instance_sdks import grant, unique
from tests.compat.sdk import new_sdk
from tests.conftest import ROOT, ServerProcess, free_port
from tests.dedicated_access import SECRET_VALUE, Dedicated, dedicated_access, save_client_key

Agents = Callable[..., AgentProcess]


@pytest.fixture(scope="module")
def world(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Dedicated:
    return dedicated_access(server, tmp_path_factory.mktemp("agent-client-key"))


def client_key_config(world: Dedicated, extra: str = "") -> str:
    return (
        f'[Credentials]\nClientKeyFile = "{world.key_file}"\n'
        f'PasswordFromFilePath = "{world.password_file}"\n{extra}'
    )


def no_ram_credentials(server: ServerProcess, directory: Path, **extra: str) -> dict[str, str]:
    """The agent's environment with the RAM credential chain finding nothing."""
    return agent_env(
        server, directory, ALIBABA_CLOUD_CREDENTIALS_FILE=str(directory / "none"), **extra
    )


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["Code"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("response_type", [0, 1, 2])
def test_secret_reads_through_the_client_key(
    agents: Agents, server: ServerProcess, world: Dedicated, tmp_path: Path, response_type: int
) -> None:
    agent = agents(
        server,
        client_key_config(world, f"[Server]\nResponseType = {response_type}\n"),
        env=no_ram_credentials(server, tmp_path),
    )
    for path in (f"/v1/{world.secret}", f"/secretsmanager/get?secretId={world.secret}"):
        answer = agent.get(path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if response_type == 0:
            assert (body["SecretName"], body["SecretData"]) == (world.secret, SECRET_VALUE)
            assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
            assert body["VersionId"] == "v1"
        elif response_type == 1:
            assert (body["Name"], body["SecretString"]) == (world.secret, SECRET_VALUE)
            assert body["VersionStages"] == ["ACSCurrent"]
        else:
            assert body["data"]["data"] == {"SecretData": SECRET_VALUE}
            metadata = body["data"]["metadata"]["custom_metadata"]
            assert (metadata["SecretName"], metadata["VersionStages"]) == (
                world.secret,
                "ACSCurrent",
            )
    assert agent.get(f"/v1/{world.secret}?versionId=v1").status_code == 200
    assert agent.stats()["Secrets"]["UpstreamCalls"] == 2  # one per distinct (name, version)


def test_a_secret_the_policy_does_not_allow(
    agents: Agents, server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    agent = agents(server, client_key_config(world), env=no_ram_credentials(server, tmp_path))
    for path in (f"/v1/{world.other_secret}", f"/secretsmanager/get?secretId={world.other_secret}"):
        answer = agent.get(path)
        assert code_of(answer) == (403, "Forbidden.NoPermission")
        assert answer.json()["Message"] == "This operation is forbidden by permission system."


def test_envelopes_through_the_dedicated_gateway_open_with_the_helper(
    agents: Agents, server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    agent = agents(
        server,
        client_key_config(world, f'[[Envelope.Keys]]\nKeyId = "{world.key_id}"\n'),
        env=no_ram_credentials(server, tmp_path),
    )
    context = {"file": "report.pdf", "tenant": "ü"}

    def seal(data: bytes) -> bytes:
        body = {"KeyId": world.key_id, "Plaintext": b64(data), "EncryptionContext": context}
        answer = agent.post("/v1/envelope/encrypt", body)
        assert answer.status_code == 200, answer.text
        return base64.b64decode(answer.json()["CiphertextBlob"])

    def open_(blob: bytes, ctx: dict[str, str]) -> httpx.Response:
        return agent.post(
            "/v1/envelope/decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": ctx}
        )

    blobs = [seal(f"message {i}".encode()) for i in range(5)]
    opened = open_(blobs[3], context)
    assert base64.b64decode(opened.json()["Plaintext"]) == b"message 3"
    stats = agent.stats()["Envelope"]
    assert (stats["GenerateDataKeyCalls"], stats["DecryptCalls"]) == (1, 1)
    assert code_of(open_(blobs[0], {"file": "other.pdf"})) == (400, "InvalidCiphertext")
    # The same bytes as an envelope sealed through the shared gateway: either side opens both.
    with Client(
        server.tls_endpoint, server.access_key_id, server.access_key_secret, ca_file=server.ca_file
    ) as kms:
        assert envelope.decrypt(kms, blobs[4], context) == b"message 4"
        from_helper = envelope.encrypt(kms, world.key_id, b"sealed by the helper", context)
    opened = open_(from_helper, context)
    assert base64.b64decode(opened.json()["Plaintext"]) == b"sealed by the helper"
    # A context the shared gateway would refuse (another map could share its Aad) is refused.
    answer = agent.post(
        "/v1/envelope/encrypt",
        {"KeyId": world.key_id, "Plaintext": b64(b"x"), "EncryptionContext": {"a": "b&c=d"}},
    )
    assert code_of(answer) == (400, "InvalidParameter")


def test_credentials_stay_out_of_the_log(
    agents: Agents, server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    password = world.access.password
    env = no_ram_credentials(server, tmp_path, APP_KEY_PASSWORD=password)
    config = (
        f'[Credentials]\nclient_key_file = "{world.key_file}"\n'  # the snake_case spellings
        'password_from_env_variable = "APP_KEY_PASSWORD"\n[Log]\nLevel = "debug"\n'
    )
    agent = agents(server, config, env=env)
    assert agent.get(f"/v1/{world.secret}").status_code == 200
    assert agent.stop() == 0
    log = agent.log()
    assert "the dedicated gateway with a client key" in log
    for secret in (password, SECRET_VALUE, world.access.content[40:80]):
        assert secret not in log


def run_agent(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        agent_command("--config", str(config), "--port", str(free_port())),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_fails_closed(server: ServerProcess, world: Dedicated, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    other = issue_client_key(
        new_key_id(), "Other-CA-1", now - timedelta(days=1), now + timedelta(days=1)
    )
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(other.public.certificate.public_bytes(serialization.Encoding.PEM))
    stranger = tmp_path / "stranger.json"
    stranger.write_text(other.content)
    wrong_password = tmp_path / "wrong-password.txt"
    wrong_password.touch(mode=0o600)
    wrong_password.write_text("Not-the-password-1\n")
    env = no_ram_credentials(server, tmp_path, KMS_TOKEN="t" * 32, OTHER_PASSWORD="Other-CA-1")
    good = f'PasswordFromFilePath = "{world.password_file}"'
    tls, ca, key = server.tls_endpoint, server.ca_file, world.key_file
    cases = [
        (tls, other_ca, key, good, "cannot be used: CertificateNotTrusted"),
        (f"127.0.0.1:{free_port()}", ca, key, good, "cannot be used: ConnectionError"),
        (tls, ca, key, f'PasswordFromFilePath = "{wrong_password}"',
         "the client key cannot be used: the client key file"),
        (tls, ca, stranger, 'PasswordFromEnvVariable = "OTHER_PASSWORD"',
         "cannot be used: Unauthorized"),
        (tls, ca, key, 'PasswordFromEnvVariable = "UNSET_PW"',
         "no client key password: the environment variable UNSET_PW is unset or empty"),
    ]  # fmt: skip
    for endpoint, ca_file, key_file, password, message in cases:
        config = tmp_path / "agent.toml"
        config.write_text(
            f'[KMS]\nEndpoint = "{endpoint}"\nCaFile = "{ca_file}"\n'
            f'[Credentials]\nClientKeyFile = "{key_file}"\n{password}\n'
        )
        done = run_agent(config, env)
        assert done.returncode == 3, (message, done.stdout, done.stderr)
        assert message in done.stderr, done.stderr
        for secret in ("Not-the-password-1", world.access.password, "Other-CA-1"):
            assert secret not in done.stderr


@pytest.mark.parametrize(
    ("credentials", "kms", "message"),
    [
        ('ClientKeyFile = "{key}"\n', "", "ClientKeyFile needs PasswordFromEnvVariable or"),
        ('PasswordFromFilePath = "{password}"\n', "", "need a ClientKeyFile"),
        ('ClientKeyFile = "{key}"\nPasswordFromEnvVariable = "P"\n', 'Protocol = "http"\n',
         "speaks https only"),
        ('ClientKeyFile = "{key}"\nPasswordFromEnvVariable = "P"\nRoleArn = "acs:ram::1:role/r"\n',
         "", "RoleArn and ClientKeyFile are two ways to authenticate"),
        ('ClientKeyFile = "/no/such/key.json"\n', "",
         "[Credentials] ClientKeyFile must be the path of a ClientKeyContent file"),
        ('ClientKeyFile = "{key}"\nPasswordFromEnvVariable = "1-bad"\n', "",
         "PasswordFromEnvVariable must be an environment variable name"),
    ],
)  # fmt: skip
def test_bad_client_key_settings_are_refused(
    world: Dedicated, tmp_path: Path, credentials: str, kms: str, message: str
) -> None:
    config = tmp_path / "agent.toml"
    filled = credentials.format(key=world.key_file, password=world.password_file)
    config.write_text(f"[KMS]\n{kms}[Credentials]\n{filled}")
    done = subprocess.run(
        agent_command("--config", str(config), "--check"),
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout
    assert message in done.stderr


def test_stale_values_while_the_dedicated_gateway_is_down(
    agents: Agents, fresh_server: ServerProcess, tmp_path: Path
) -> None:
    world = dedicated_access(fresh_server, tmp_path)
    cache = "[Cache]\nTTLSeconds = 1\n"
    lenient = agents(
        fresh_server,
        client_key_config(world, cache),
        env=no_ram_credentials(fresh_server, tmp_path),
    )
    strict = agents(
        fresh_server,
        client_key_config(world, cache + "[Server]\nIgnoreTransientErrors = false\n"),
        env=no_ram_credentials(fresh_server, tmp_path),
    )
    for agent in (lenient, strict):
        answer = agent.get(f"/v1/{world.secret}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["SecretData"] == SECRET_VALUE
    fresh_server.stop()
    time.sleep(1.1)
    answer = lenient.get(f"/v1/{world.secret}")
    assert answer.status_code == 200 and answer.headers["x-mamori-cache"] == "stale"
    assert answer.json()["SecretData"] == SECRET_VALUE
    assert code_of(strict.get(f"/v1/{world.secret}")) == (502, "ConnectionError")


def test_flags_name_the_client_key(world: Dedicated, tmp_path: Path) -> None:
    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            agent_command(*args, "--check"),
            env=dict(os.environ), cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    done = check("--client-key-file", str(world.key_file),
                 "--client-key-password-file", str(world.password_file))  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "mamori agent: configuration is valid")
    done = check("--client-key-file", str(tmp_path / "missing.json"),
                 "--client-key-password-file", str(world.password_file))  # fmt: skip
    assert done.returncode == 2
    assert "missing.json does not exist" in done.stderr
    done = check("--client-key-file", str(world.key_file))
    assert done.returncode == 2
    assert "ClientKeyFile needs PasswordFromEnvVariable or PasswordFromFilePath" in done.stderr


def test_an_alias_as_envelope_key(
    agents: Agents, server: ServerProcess, world: Dedicated, tmp_path: Path
) -> None:
    """The instance API has no DescribeKey: the agent learns which key an alias names from a
    one-byte GenerateDataKey, and then opens the envelopes that key's data keys sealed. A
    wrapped data key names only a key version, so decrypting needs a policy on the key itself:
    the alias alone opens nothing."""
    alias = f"alias/{unique('agent')}"
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=world.key_id))
    started = []
    for resources in ([alias], [alias, f"key/{world.key_id}"]):
        directory = tmp_path / str(len(resources))
        directory.mkdir()
        key_file, password_file = save_client_key(grant(kms, world.instance, resources), directory)
        agent = agents(
            server,
            f'[Credentials]\nClientKeyFile = "{key_file}"\n'
            f'PasswordFromFilePath = "{password_file}"\n[[Envelope.Keys]]\nKeyId = "{alias}"\n',
            env=no_ram_credentials(server, directory),
        )
        sealed = agent.post("/v1/envelope/encrypt", {"KeyId": alias, "Plaintext": b64(b"aliased")})
        assert sealed.status_code == 200, sealed.text
        blob = sealed.json()["CiphertextBlob"]
        started.append((agent, blob))
    (alias_only, blob), (with_key, _) = started
    refused = alias_only.post("/v1/envelope/decrypt", {"CiphertextBlob": blob})
    assert code_of(refused) == (400, "InvalidParameter")  # the key unseen: the blob is invalid
    opened = with_key.post("/v1/envelope/decrypt", {"CiphertextBlob": blob})
    assert opened.status_code == 200, opened.text
    assert base64.b64decode(opened.json()["Plaintext"]) == b"aliased"
