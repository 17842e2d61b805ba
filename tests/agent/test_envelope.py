"""Shared envelope encryption through a real agent: data keys reused within their limits,
envelopes interchangeable with ``mamori.envelope``, tampering and wrong contexts refused, and
a revoked permission taking effect within the documented bound."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mamori import envelope
from mamori.client import Client
from mamori.client._base import RAM
from mamori.crypto import envelope as fmt
from tests.agent.conftest import AgentProcess, agent_env
from tests.conftest import ServerProcess

Agents = Callable[..., AgentProcess]
MAX_MESSAGES = 100


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def envelope_config(key_id: str, **limits: int) -> str:
    lines = [f'[[Envelope.Keys]]\nKeyId = "{key_id}"']
    lines += [f"{name} = {value}" for name, value in limits.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def key_id(admin: Client) -> str:
    return str(admin.call("CreateKey", Description="agent envelope")["KeyMetadata"]["KeyId"])


@pytest.fixture
def agent(agents: Agents, server: ServerProcess, key_id: str) -> AgentProcess:
    return agents(server, envelope_config(key_id, MaxMessages=MAX_MESSAGES))


def encrypt(agent: AgentProcess, key_id: str, data: bytes, context: object = None) -> bytes:
    body: dict[str, object] = {"KeyId": key_id, "Plaintext": b64(data)}
    if context is not None:
        body["EncryptionContext"] = context
    response = agent.post("/v1/envelope/encrypt", body)
    assert response.status_code == 200, response.text
    assert response.json()["KeyId"] == key_id
    return base64.b64decode(response.json()["CiphertextBlob"])


def decrypt(agent: AgentProcess, blob: bytes, context: object = None) -> httpx.Response:
    body: dict[str, object] = {"CiphertextBlob": b64(blob)}
    if context is not None:
        body["EncryptionContext"] = context
    return agent.post("/v1/envelope/decrypt", body)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["Code"])


def test_a_thousand_encrypts_cost_at_most_ten_data_keys(
    agent: AgentProcess, key_id: str, admin: Client
) -> None:
    """1,000 encrypts from 8 concurrent callers with MaxMessages = 100: the agent's counter
    of GenerateDataKey calls, and the distinct wrapped keys (each minted by the server) found
    in the envelopes, are both at most ceil(1000 / 100) = 10."""
    context = {"app": "billing"}
    with ThreadPoolExecutor(8) as pool:
        blobs = list(
            pool.map(lambda i: encrypt(agent, key_id, f"m{i}".encode() * 64, context), range(1000))
        )
    stats = agent.stats()["Envelope"]
    assert stats["Encrypts"] == 1000
    assert stats["GenerateDataKeyCalls"] <= 10
    wrapped = {fmt.parse(blob).wrapped_key for blob in blobs}
    assert len(wrapped) <= 10
    assert len(wrapped) == stats["GenerateDataKeyCalls"]
    # Each wrapped key really is one the server made for this key and context.
    for blob in wrapped:
        opened = admin.call(
            "Decrypt", CiphertextBlob=b64(blob), EncryptionContext=json.dumps(context)
        )
        assert len(base64.b64decode(opened["Plaintext"])) == 32
    # And every envelope opens, costing one Decrypt per data key.
    for i in (0, 499, 999):
        opened = decrypt(agent, blobs[i], context)
        assert base64.b64decode(opened.json()["Plaintext"]) == f"m{i}".encode() * 64
    assert agent.stats()["Envelope"]["DecryptCalls"] <= 3


def test_agent_and_helper_open_each_others_envelopes(
    agent: AgentProcess, key_id: str, server: ServerProcess
) -> None:
    context = {"file": "report.pdf", "tenant": "ü"}
    with Client(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        ca_file=server.ca_file,
    ) as kms:
        from_agent = encrypt(agent, key_id, b"sealed by the agent", context)
        assert envelope.decrypt(kms, from_agent, context) == b"sealed by the agent"
        from_helper = envelope.encrypt(kms, key_id, b"sealed by the helper", context)
        opened = decrypt(agent, from_helper, context)
        assert base64.b64decode(opened.json()["Plaintext"]) == b"sealed by the helper"
        with pytest.raises(envelope.DecryptionFailed):
            envelope.decrypt(kms, from_agent, {"file": "other.pdf", "tenant": "ü"})
        with pytest.raises(envelope.DecryptionFailed):
            envelope.decrypt(kms, from_agent[:-1] + bytes([from_agent[-1] ^ 1]), context)
        with pytest.raises(envelope.MalformedEnvelope):
            envelope.decrypt(kms, b"\x02" + from_agent[1:], context)


def test_tampering_and_wrong_contexts_are_refused(agent: AgentProcess, key_id: str) -> None:
    context = {"purpose": "test"}
    blob = encrypt(agent, key_id, b"payload", context)
    assert decrypt(agent, blob, context).status_code == 200
    for position in (len(blob) - 1, len(blob) - 20, 3 + 5):  # tag, ciphertext, context
        changed = bytearray(blob)
        changed[position] ^= 0x01
        assert code_of(decrypt(agent, bytes(changed), context)) == (400, "InvalidCiphertext")
    assert code_of(decrypt(agent, blob, {"purpose": "other"})) == (400, "InvalidCiphertext")
    assert code_of(decrypt(agent, blob)) == (400, "InvalidCiphertext")
    assert code_of(decrypt(agent, blob[:30], context)) == (400, "InvalidCiphertext")
    assert code_of(decrypt(agent, b"\x07" + blob[1:], context)) == (400, "InvalidCiphertext")


def test_envelope_request_errors(agent: AgentProcess, key_id: str) -> None:
    post = agent.post
    assert code_of(post("/v1/envelope/encrypt", {"KeyId": "key-other", "Plaintext": ""})) == (
        403,
        "Forbidden.EnvelopeNotEnabled",
    )
    for body, code in (
        ({"Plaintext": "AA=="}, "MissingParameter"),
        ({"KeyId": key_id}, "MissingParameter"),
        ({"KeyId": key_id, "Plaintext": "not base64!"}, "InvalidParameter"),
        ({"KeyId": key_id, "Plaintext": "AA==", "Extra": 1}, "InvalidParameter"),
        ({"KeyId": key_id, "Plaintext": "AA==", "EncryptionContext": {"a": 1}}, "InvalidParameter"),
        ({"KeyId": key_id, "Plaintext": "AA==", "EncryptionContext": "a=b"}, "InvalidParameter"),
    ):
        assert code_of(post("/v1/envelope/encrypt", body)) == (400, code), body
    not_json = agent.http.post(
        "/v1/envelope/decrypt", content=b"{", headers={"X-KMS-Token": agent.token}
    )
    assert code_of(not_json) == (400, "InvalidParameter")
    unauthenticated = agent.http.post("/v1/envelope/encrypt", json={"KeyId": key_id})
    assert code_of(unauthenticated) == (403, "BadToken")
    too_large = agent.http.post(
        "/v1/envelope/encrypt",
        content=b"x" * (2 << 20),
        headers={"X-KMS-Token": agent.token},
    )
    assert code_of(too_large) == (413, "RequestTooLarge")


def test_the_server_still_authorizes_every_new_data_key(
    agents: Agents, server: ServerProcess, admin: Client, key_id: str
) -> None:
    """The agent acts with its own credentials: a user without kms:GenerateDataKey gets the
    server's refusal, and a revoked permission stops encryption once the cached data key
    reaches MaxAgeSeconds."""
    tag = uuid.uuid4().hex[:8]
    user, policy = f"agent-user-{tag}", f"agent-dk-{tag}"
    admin.call("CreateUser", RAM, UserName=user)
    access = admin.call("CreateAccessKey", RAM, UserName=user)["AccessKey"]
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["kms:GenerateDataKey"], "Resource": "*"}],
    }
    admin.call("CreatePolicy", RAM, PolicyName=policy, PolicyDocument=json.dumps(document))
    env = agent_env(
        server,
        server.data_dir.parent,
        ALIBABA_CLOUD_ACCESS_KEY_ID=access["AccessKeyId"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=access["AccessKeySecret"],
    )
    agent = agents(server, envelope_config(key_id, MaxAgeSeconds=2), env=env)
    refused = agent.post("/v1/envelope/encrypt", {"KeyId": key_id, "Plaintext": "AA=="})
    assert code_of(refused) == (403, "Forbidden.NoPermission")
    admin.call("AttachPolicyToUser", RAM, PolicyType="Custom", PolicyName=policy, UserName=user)
    blob = encrypt(agent, key_id, b"while allowed")
    # Encryption never gave the agent the right to decrypt: Decrypt is asked, and refused.
    assert code_of(decrypt(agent, blob)) == (403, "Forbidden.NoPermission")
    admin.call("DetachPolicyFromUser", RAM, PolicyType="Custom", PolicyName=policy, UserName=user)
    encrypt(agent, key_id, b"cached data key, within MaxAgeSeconds")
    time.sleep(2.1)
    after = agent.post("/v1/envelope/encrypt", {"KeyId": key_id, "Plaintext": "AA=="})
    assert code_of(after) == (403, "Forbidden.NoPermission")
