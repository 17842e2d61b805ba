"""Starting and stopping ``mamori agent``: configuration checks, the SSRF token, credentials
(including a role through Mamori's STS), fail-closed start-up and SIGTERM."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mamori.client import Client
from mamori.client._base import RAM
from tests.agent.conftest import AgentProcess, agent_command, agent_env, new_secret
from tests.conftest import ROOT, ServerProcess, free_port

Agents = Callable[..., AgentProcess]


def run_agent(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        agent_command(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[Server]\nHttpPort = 80\n", "[Server] HttpPort must be an integer 1024–65535, got 80"),
        ("[Server]\nResponseType = 3\n", "[Server] ResponseType must be 0, 1 or 2, got 3"),
        ("[Server]\nMaxConn = true\n", "[Server] MaxConn must be an integer 1–1000"),
        ('[Server]\nPathPrefix = "v1"\n', "[Server] PathPrefix must be a path"),
        ('[Server]\nTokenFileMode = "0644"\n', '[Server] TokenFileMode must be "0600" or "0640"'),
        ("[Server]\nColour = 1\n", "[Server] has no setting 'Colour'"),
        ("[Cache]\nTTLSeconds = 7200\n", "[Cache] TTLSeconds must be an integer 0–3600"),
        ("[Cache]\nTTLSeconds = 1\nttl_seconds = 2\n", "sets what [Cache] TTLSeconds already"),
        ('[KMS]\nEndpoint = "https://x:1"\n', "[KMS] Endpoint must be host:port"),
        ('[KMS]\nCaFile = "/no/such/ca.pem"\n', "[KMS] CaFile must be the path of a readable"),
        ('[KMS]\nProtocol = "ftp"\n', '[KMS] Protocol must be "http" or "https"'),
        ("[Envelope]\nMaxMessages = 0\n", "[Envelope] MaxMessages must be an integer"),
        ("[[Envelope.Keys]]\nMaxAgeSeconds = 5\n", "[[Envelope.Keys]] #1 needs a KeyId"),
        ('[[Envelope.Keys]]\nKeyId = "k"\nMaxBytes = -1\n', "#1 MaxBytes must be an integer"),
        ("unknown = 1\n", "unknown section or key 'unknown'"),
        ("[Server\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(toml)
    done = run_agent(["--config", str(path), "--check"], dict(os.environ))
    assert done.returncode == 2, done.stdout
    assert f"mamori agent: {path}: " in done.stderr
    assert message in done.stderr


def test_snake_case_and_aws_style_keys_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        "http_port = 2999\nttl_seconds = 10\ncache_size = 5\nmax_conn = 4\n"
        '[KMS]\nendpoint = "127.0.0.1:1"\nprotocol = "http"\n'
        '[Log]\nlevel = "debug"\n'
        '[[Envelope.Keys]]\nkey_id = "alias/app"\nmax_messages = 3\n'
    )
    done = run_agent(["--config", str(path), "--check"], dict(os.environ))
    assert (done.returncode, done.stdout.strip()) == (0, "mamori agent: configuration is valid")


def test_flags_are_checked_too(tmp_path: Path) -> None:
    done = run_agent(["--protocol", "ftp", "--check"], dict(os.environ))
    assert done.returncode == 2
    assert "--protocol must be http or https" in done.stderr
    done = run_agent(["--endpoint", "http://x", "--check"], dict(os.environ))
    assert "the endpoint must be host:port" in done.stderr


def test_a_generated_token_file(
    agents: Agents, server: ServerProcess, admin: Client, tmp_path: Path
) -> None:
    token_file = tmp_path / "kmstoken"
    env = agent_env(server, tmp_path)
    agent = agents(server, env=env, args=("--token-file", str(token_file)), token="unused")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) == 64
    name = new_secret(admin)
    assert agent.get(f"/v1/{name}", token=token).status_code == 200
    assert agent.get(f"/v1/{name}", token="unused").status_code == 403


def test_a_token_from_a_file_url(
    agents: Agents, server: ServerProcess, admin: Client, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789abcdef\n")
    token_file.chmod(0o640)
    # An empty KMS_TOKEN counts as unset: the next variable of SSRFEnvVariables is used.
    env = agent_env(server, tmp_path, KMS_TOKEN="", KMS_SESSION_TOKEN=f"file://{token_file}")
    agent = agents(server, env=env)
    name = new_secret(admin)
    assert agent.get(f"/v1/{name}", token="file-token-0123456789abcdef").status_code == 200


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "no SSRF token: set one of KMS_TOKEN, KMS_SESSION_TOKEN"),
        ({"KMS_TOKEN": "short"}, "the token in KMS_TOKEN must be 16–4096 characters"),
        ({"KMS_TOKEN": "file:///no/such/file"}, "cannot read the token file /no/such/file"),
        ({"KMS_TOKEN": "file://{open}"}, "is accessible to other users"),
    ],
)
def test_start_up_without_a_usable_token_fails(
    server: ServerProcess, tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    world_readable = tmp_path / "open-token"
    world_readable.write_text("x" * 32)
    world_readable.chmod(0o644)
    env = agent_env(server, tmp_path)
    env.update({k: v.format(open=world_readable) for k, v in variables.items()})
    done = run_agent(["--endpoint", server.endpoint, "--protocol", "http"], env)
    assert done.returncode == 3
    assert message in done.stderr
    assert "x" * 32 not in done.stderr


def test_start_up_fails_closed(server: ServerProcess, tmp_path: Path) -> None:
    credentials = tmp_path / "wrong.credentials"
    credentials.write_text(
        f"[default]\ntype = access_key\naccess_key_id = {server.access_key_id}\n"
        "access_key_secret = not-the-secret\n"
    )
    env = agent_env(
        server, tmp_path, KMS_TOKEN="t" * 32, ALIBABA_CLOUD_CREDENTIALS_FILE=str(credentials)
    )
    done = run_agent(["--endpoint", server.endpoint, "--protocol", "http"], env)
    assert done.returncode == 3
    assert "cannot be used: SignatureDoesNotMatch" in done.stderr
    assert "not-the-secret" not in done.stderr
    nobody = f"127.0.0.1:{free_port()}"
    good = agent_env(server, tmp_path, KMS_TOKEN="t" * 32)
    done = run_agent(["--endpoint", nobody, "--protocol", "http"], good)
    assert done.returncode == 3
    assert "cannot be used: ConnectionError" in done.stderr


def test_start_degraded_serves_the_upstream_error(
    agents: Agents, server: ServerProcess, tmp_path: Path
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    agent = agents(server, args=("--endpoint", nobody, "--start-degraded"))
    answer = agent.get("/v1/anything")
    assert (answer.status_code, answer.json()["Code"]) == (502, "ConnectionError")
    assert "starting degraded" in agent.log()


def test_a_role_assumed_through_mamori_sts(
    agents: Agents, server: ServerProcess, admin: Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    account = "1234567890123456"
    trust = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"RAM": [f"acs:ram::{account}:root"]},
            }
        ],
    }
    role = f"agent-role-{tag}"
    admin.call("CreateRole", RAM, RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    reader = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": "*"}],
    }
    admin.call("CreatePolicy", RAM, PolicyName=f"read-{tag}", PolicyDocument=json.dumps(reader))
    admin.call(
        "AttachPolicyToRole", RAM, PolicyType="Custom", PolicyName=f"read-{tag}", RoleName=role
    )
    env = agent_env(server, tmp_path, SSL_CERT_FILE=str(server.ca_file))
    agent = agents(
        server,
        f'[Credentials]\nRoleArn = "acs:ram::{account}:role/{role}"\nRoleSessionName = "agent"\n',
        env=env,
    )
    name = new_secret(admin, "read-by-a-role")
    assert agent.get(f"/v1/{name}").json()["SecretData"] == "read-by-a-role"


def test_sigterm_stops_gracefully(agents: Agents, server: ServerProcess) -> None:
    agent = agents(server)
    assert agent.stop() == 0
