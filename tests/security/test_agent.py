"""Attacks on ``mamori agent`` by local processes, replayed against a real agent in front of a
real server (tests/agent/conftest.py). docs/security.md, "Dedicated gateway and agent", lists
them."""

from __future__ import annotations

import base64
import contextlib
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from mamori import envelope
from mamori.client import Client
from tests.agent.conftest import AgentProcess, admin, agents
from tests.conftest import ServerProcess

__all__ = ["admin", "agents"]

Agents = Callable[..., AgentProcess]


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json().get("Code"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# -- M3: the request head is bounded in size and time ---------------------------------------


def test_an_endless_header_is_refused_quickly_and_memory_stays_bounded(
    agents: Agents, server: ServerProcess
) -> None:
    agent = agents(server)
    before = rss_mb(agent.process.pid)
    chunk = b"a" * 65536
    answer = b""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", agent.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        # 64 MiB at most, for 3 s at most; the agent should cut it off after its head limit.
        with contextlib.suppress(OSError):
            for _ in range(1024):
                if time.monotonic() - started > 3:
                    break
                sock.sendall(chunk)
        with contextlib.suppress(OSError):
            answer = sock.recv(4096)
    elapsed = time.monotonic() - started
    grown = rss_mb(agent.process.pid) - before
    print(f"answer {answer[:40]!r} after {elapsed:.2f} s; RSS grew {grown:.1f} MB")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"RequestHeaderFieldsTooLarge"' in answer
    assert elapsed < 2.0
    assert grown < 16, grown
    assert agent.get("/mamori/stats").status_code == 200


def test_half_sent_heads_do_not_lock_out_a_caller_with_the_token(
    agents: Agents, server: ServerProcess
) -> None:
    agent = agents(server, "[Server]\nMaxConn = 5\nRequestReadTimeoutSeconds = 2\n")
    held = []
    try:
        for _ in range(25):
            sock = socket.create_connection(("127.0.0.1", agent.port))
            sock.sendall(b"GET /mamori/stats HTTP/1.1\r\nHost: x\r\n")  # never ends
            held.append(sock)
        time.sleep(0.2)
        # Only connections with a whole request head count toward MaxConn.
        with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}", timeout=5) as caller:
            response = caller.get("/mamori/stats", headers={"X-KMS-Token": agent.token})
            assert response.status_code == 200, response.text
        # And half-sent heads are answered 408 and closed at the read deadline.
        time.sleep(2.5)
        for sock in held:
            sock.settimeout(2)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in held:
            sock.close()


# -- L1 / L2: the envelope endpoints keep to the configured keys and their limits -----------


def _key(client: Client) -> str:
    return str(client.call("CreateKey", Description="agent security")["KeyMetadata"]["KeyId"])


def _kms(server: ServerProcess) -> Client:
    return Client(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        ca_file=server.ca_file,
    )


def _decrypt(agent: AgentProcess, blob: bytes, context: dict[str, str]) -> httpx.Response:
    body = {"CiphertextBlob": base64.b64encode(blob).decode(), "EncryptionContext": context}
    return agent.post("/v1/envelope/decrypt", body)


def test_decrypt_opens_only_envelopes_of_the_configured_keys(
    agents: Agents, server: ServerProcess, admin: Client
) -> None:
    """The agent's credentials may Decrypt every key of the account; its configuration lists
    one key, by an alias. An envelope of another key is refused, one of the listed key opens."""
    listed, other = _key(admin), _key(admin)
    alias = f"alias/agent-{uuid.uuid4().hex[:8]}"
    admin.call("CreateAlias", AliasName=alias, KeyId=listed)
    agent = agents(server, f'[[Envelope.Keys]]\nKeyId = "{alias}"\n')
    context = {"file": "a"}
    with _kms(server) as kms:
        of_listed = envelope.encrypt(kms, listed, b"listed", context)
        of_other = envelope.encrypt(kms, other, b"not listed", context)
    refused = _decrypt(agent, of_other, context)
    assert code_of(refused) == (403, "Forbidden.EnvelopeNotEnabled"), refused.text
    opened = _decrypt(agent, of_listed, context)
    assert opened.status_code == 200, opened.text
    assert base64.b64decode(opened.json()["Plaintext"]) == b"listed"
    # Refused again from the cache's side too: nothing of the other key was kept.
    assert code_of(_decrypt(agent, of_other, context)) == (403, "Forbidden.EnvelopeNotEnabled")


def test_a_keys_max_age_bounds_its_decryption_cache(
    agents: Agents, server: ServerProcess, admin: Client
) -> None:
    """[Envelope] MaxAgeSeconds stays at its default (300 s); the key's own is 2 s. Two seconds
    after the key is disabled, the agent no longer opens its envelopes from the cache."""
    key_id = _key(admin)
    agent = agents(server, f'[[Envelope.Keys]]\nKeyId = "{key_id}"\nMaxAgeSeconds = 2\n')
    context = {"file": "b"}
    body = {"KeyId": key_id, "Plaintext": base64.b64encode(b"aged").decode()}
    sealed = agent.post("/v1/envelope/encrypt", {**body, "EncryptionContext": context})
    blob = base64.b64decode(sealed.json()["CiphertextBlob"])
    assert _decrypt(agent, blob, context).status_code == 200
    admin.call("DisableKey", KeyId=key_id)
    time.sleep(2.5)
    after = _decrypt(agent, blob, context)
    assert code_of(after) == (409, "Rejected.Disabled"), after.text


# -- Review of the client-key agent: the envelope endpoints' JSON is read one way only ------


def _post_raw(agent: AgentProcess, path: str, body: bytes) -> httpx.Response:
    return agent.http.post(path, content=body, headers={"X-KMS-Token": agent.token})


def test_deeply_nested_json_is_a_bad_parameter_not_a_failure(
    agents: Agents, server: ServerProcess, admin: Client
) -> None:
    """100,000 nested arrays made the JSON reader recurse past Python's limit: a 500
    ``InternalFailure`` (and an error line in the log) for what is only bad input."""
    agent = agents(server, f'[[Envelope.Keys]]\nKeyId = "{_key(admin)}"\n')
    for path in ("/v1/envelope/encrypt", "/v1/envelope/decrypt"):
        nested = _post_raw(agent, path, b"[" * 100_000 + b"]" * 100_000)
        assert code_of(nested) == (400, "InvalidParameter"), nested.text
        assert nested.json()["Message"] == "The body is not JSON."
    assert "request failed" not in agent.log()


def test_a_json_name_given_twice_is_refused(
    agents: Agents, server: ServerProcess, admin: Client
) -> None:
    """JSON readers disagree about ``{"a": 1, "a": 2}`` (Python keeps the last, others the
    first, some refuse): a field or context entry given twice meant one thing to whatever
    checked the request and another to the agent. The agent now refuses it."""
    key_id = _key(admin)
    agent = agents(server, f'[[Envelope.Keys]]\nKeyId = "{key_id}"\n')
    context = {"tenant": "a"}
    plain = base64.b64encode(b"twice").decode()
    sealed = agent.post(
        "/v1/envelope/encrypt", {"KeyId": key_id, "Plaintext": plain, "EncryptionContext": context}
    )
    blob = sealed.json()["CiphertextBlob"]
    bodies = {
        "/v1/envelope/encrypt": (
            f'{{"KeyId": "alias/other", "KeyId": "{key_id}", "Plaintext": "{plain}"}}',
            f'{{"KeyId": "{key_id}", "Plaintext": "{plain}", '
            '"EncryptionContext": {"tenant": "b", "tenant": "a"}}',
        ),
        "/v1/envelope/decrypt": (
            f'{{"CiphertextBlob": "AAAA", "CiphertextBlob": "{blob}", '
            '"EncryptionContext": {"tenant": "a"}}',
            f'{{"CiphertextBlob": "{blob}", '
            '"EncryptionContext": {"tenant": "b", "tenant": "a"}}',
        ),
    }
    for path, cases in bodies.items():
        for body in cases:
            answer = _post_raw(agent, path, body.encode())
            assert code_of(answer) == (400, "InvalidParameter"), (path, body, answer.text)
            assert "given twice" in answer.json()["Message"], answer.text
