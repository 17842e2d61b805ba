"""Secret reads through a real ``mamori agent`` in front of a real ``mamori server``: both URL
forms, the three answer shapes, the caller checks, the cache and its refreshes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mamori.client import Client
from tests.agent.conftest import AgentProcess, new_secret
from tests.conftest import ServerProcess

Agents = Callable[..., AgentProcess]


@pytest.fixture
def agent(agents: Agents, server: ServerProcess) -> AgentProcess:
    return agents(server)


def code_of(response: httpx.Response) -> tuple[int, str]:
    """Status and error code of a ResponseType 0 (KMS-shaped) error."""
    return response.status_code, str(response.json()["Code"])


def test_both_url_forms_serve_the_kms_answer(agent: AgentProcess, admin: Client) -> None:
    name = new_secret(admin, "s3cret-value")
    by_path = agent.get(f"/v1/{name}")
    assert by_path.status_code == 200, by_path.text
    body = by_path.json()
    assert (body["SecretName"], body["SecretData"], body["VersionId"]) == (
        name,
        "s3cret-value",
        "v1",
    )
    assert body["VersionStages"] == {"VersionStage": ["ACSCurrent"]}
    assert body["SecretDataType"] == "text"
    assert by_path.headers["content-type"] == "application/json"
    by_query = agent.get("/secretsmanager/get", params={"secretId": name})
    assert by_query.status_code == 200
    assert by_query.json() == body
    assert by_query.headers["x-mamori-cache"] == "hit"


def test_the_aws_shape(agents: Agents, server: ServerProcess, admin: Client) -> None:
    agent = agents(server, "[Server]\nResponseType = 1\n")
    name = new_secret(admin, "aws-shaped")
    body = agent.get(f"/v1/{name}").json()
    assert sorted(body) == [
        "ARN",
        "CreatedDate",
        "Name",
        "SecretString",
        "VersionId",
        "VersionStages",
    ]
    assert body["ARN"] == f"acs:kms:cn-hangzhou:1234567890123456:secret/{name}"
    assert (body["Name"], body["SecretString"], body["VersionId"]) == (name, "aws-shaped", "v1")
    assert body["VersionStages"] == ["ACSCurrent"]
    assert float(body["CreatedDate"]) > 1.6e9
    missing = agent.get("/v1/agent/no-such-secret")
    assert missing.status_code == 404
    assert missing.json() == {
        "__type": "Forbidden.ResourceNotFound",
        "message": "Resource not found.",
    }


def test_the_vault_kv_v2_shape(agents: Agents, server: ServerProcess, admin: Client) -> None:
    agent = agents(server, "[Server]\nResponseType = 2\n")
    document = json.dumps({"username": "app", "password": "pw"})
    as_json = new_secret(admin, document)
    body = agent.get(f"/v1/{as_json}").json()
    assert sorted(body) == [
        "auth",
        "data",
        "lease_duration",
        "lease_id",
        "renewable",
        "request_id",
        "warnings",
        "wrap_info",
    ]
    assert body["data"]["data"] == {"username": "app", "password": "pw"}
    metadata = body["data"]["metadata"]
    assert metadata["version"] == "v1"
    assert metadata["destroyed"] is False
    assert metadata["custom_metadata"]["SecretName"] == as_json
    assert metadata["custom_metadata"]["VersionStages"] == "ACSCurrent"
    plain = new_secret(admin, "not json")
    assert agent.get(f"/v1/{plain}").json()["data"]["data"] == {"SecretData": "not json"}
    missing = agent.get("/v1/agent/no-such-secret")
    assert (missing.status_code, missing.json()) == (
        404,
        {"errors": ["Forbidden.ResourceNotFound: Resource not found."]},
    )


def test_ping_needs_no_token(agent: AgentProcess) -> None:
    response = httpx.get(f"http://127.0.0.1:{agent.port}/ping")
    assert (response.status_code, response.text) == (200, "healthy")


def test_the_caller_checks(agent: AgentProcess, admin: Client) -> None:
    name = new_secret(admin)
    assert code_of(agent.get(f"/v1/{name}", token="")) == (403, "BadToken")
    assert code_of(agent.get(f"/v1/{name}", token=agent.token + "x")) == (403, "BadToken")
    assert code_of(agent.get(f"/v1/{name}", token=agent.token[:-1])) == (403, "BadToken")
    vault = agent.http.get(f"/v1/{name}", headers={"X-Vault-Token": agent.token})
    assert vault.status_code == 200
    forwarded = agent.get(f"/v1/{name}", headers={"X-Forwarded-For": "10.0.0.1"})
    assert code_of(forwarded) == (400, "Forwarded")
    posted = agent.http.post(f"/v1/{name}", headers={"X-KMS-Token": agent.token})
    assert code_of(posted) == (405, "MethodNotAllowed")
    deleted = agent.http.delete("/secretsmanager/get", headers={"X-KMS-Token": agent.token})
    assert code_of(deleted) == (405, "MethodNotAllowed")
    assert code_of(agent.get("/elsewhere")) == (404, "NotFound")


def test_bad_queries(agent: AgentProcess, admin: Client) -> None:
    name = new_secret(admin)
    for path, params, code in (
        (f"/v1/{name}", {"color": "red"}, "InvalidParameter"),
        (f"/v1/{name}", {"secretId": name}, "InvalidParameter"),
        ("/secretsmanager/get", {"secretId": name, "x": "1"}, "InvalidParameter"),
        ("/secretsmanager/get", {"secretId": name, "refreshNow": "maybe"}, "InvalidParameter"),
        ("/secretsmanager/get", {"secretId": name, "versionId": ""}, "InvalidParameter"),
        ("/secretsmanager/get", {}, "MissingParameter"),
        ("/v1/", {}, "MissingParameter"),
        (f"/v1/{'x' * 193}", {}, "InvalidParameter"),
    ):
        assert code_of(agent.get(path, params=params)) == (400, code), (path, params)
    twice = agent.get(f"/secretsmanager/get?secretId={name}&secretId={name}")
    assert code_of(twice) == (400, "InvalidParameter")


def test_upstream_errors_keep_their_code_and_status(agent: AgentProcess) -> None:
    assert code_of(agent.get("/v1/agent/no-such-secret")) == (404, "Forbidden.ResourceNotFound")


def test_versions_stages_and_refresh_now(agent: AgentProcess, admin: Client) -> None:
    name = new_secret(admin, "first")
    assert agent.get(f"/v1/{name}").json()["SecretData"] == "first"
    admin.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="second")
    cached = agent.get(f"/v1/{name}")
    assert (cached.json()["SecretData"], cached.headers["x-mamori-cache"]) == ("first", "hit")
    fresh = agent.get(f"/v1/{name}", params={"refreshNow": "true"})
    assert (fresh.json()["SecretData"], fresh.headers["x-mamori-cache"]) == ("second", "miss")
    assert agent.get(f"/v1/{name}").json()["SecretData"] == "second"
    previous = agent.get(f"/v1/{name}", params={"versionStage": "ACSPrevious"}).json()
    assert (previous["SecretData"], previous["VersionId"]) == ("first", "v1")
    by_id = agent.get("/secretsmanager/get", params={"secretId": name, "versionId": "v1"})
    assert by_id.json()["SecretData"] == "first"


def test_a_rotated_secret_is_seen_after_the_ttl(
    agents: Agents, server: ServerProcess, admin: Client
) -> None:
    agent = agents(server, "[Cache]\nTTLSeconds = 1\n")
    name = new_secret(admin, "before")
    assert agent.get(f"/v1/{name}").json()["SecretData"] == "before"
    admin.call("RotateSecret", SecretName=name, VersionId="rotated")
    assert agent.get(f"/v1/{name}").json()["VersionId"] == "v1"
    deadline = time.monotonic() + 5
    while agent.get(f"/v1/{name}").json()["VersionId"] != "rotated":
        assert time.monotonic() < deadline, "the rotation was not seen after TTL"
        time.sleep(0.2)


def _read_until(sock: socket.socket, marker: bytes, timeout_s: float = 5.0) -> bytes:
    """What the socket sends until ``marker`` (the head and the chunked body may come in two
    segments)."""
    sock.settimeout(timeout_s)
    got = b""
    while marker not in got:
        chunk = sock.recv(1024)
        if not chunk:
            break
        got += chunk
    return got


def test_max_conn(agents: Agents, server: ServerProcess, admin: Client) -> None:
    agent = agents(server, "[Server]\nMaxConn = 2\n")
    name = new_secret(admin)
    held = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", agent.port))
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"healthy" in _read_until(sock, b"healthy")
        held.append(sock)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}") as third:
            refused = third.get(f"/v1/{name}", headers={"X-KMS-Token": agent.token})
            assert code_of(refused) == (429, "ConnectionLimitExceeded")
            # Health checks keep two connections of headroom.
            assert third.get("/ping").status_code == 200
    finally:
        for sock in held:
            sock.close()
    assert agent.get(f"/v1/{name}").status_code == 200


@pytest.mark.parametrize("ignore", [True, False])
def test_server_stopped(
    agents: Agents, fresh_server: ServerProcess, ignore: bool, tmp_path: Path
) -> None:
    with Client(
        fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret
    ) as client:
        name = new_secret(client, "kept")
    agent = agents(
        fresh_server,
        f"[Server]\nIgnoreTransientErrors = {'true' if ignore else 'false'}\n"
        "[Cache]\nTTLSeconds = 1\n",
    )
    assert agent.get(f"/v1/{name}").json()["SecretData"] == "kept"
    fresh_server.stop()
    time.sleep(1.1)
    answer = agent.get(f"/v1/{name}")
    if ignore:
        assert answer.status_code == 200
        assert answer.headers["x-mamori-cache"] == "stale"
        assert answer.json()["SecretData"] == "kept"
        assert agent.stats()["Secrets"]["StaleServed"] == 1
    else:
        assert code_of(answer) == (502, "ConnectionError")
    # Never cached, so nothing stale to serve.
    assert code_of(agent.get("/v1/agent/never-read")) == (502, "ConnectionError")


def test_values_stay_out_of_the_log(agent: AgentProcess, admin: Client) -> None:
    name = new_secret(admin, "do-not-log-me")
    assert agent.get(f"/v1/{name}").status_code == 200
    agent.get(f"/v1/{name}", token="wrong-token-value")
    assert agent.stop() == 0
    log = agent.log()
    assert "do-not-log-me" not in log
    assert agent.token not in log
    assert "mamori agent stopped" in log
