"""Crash rounds: concurrent official-SDK clients write, the server is SIGKILLed mid-load and
restarted on the same data, and every acknowledged write must be there; the audit chain must
verify (a record torn by the kill sealed at the restart) and hold every acknowledged request.

Shared by ``tests/store/test_crash.py`` (a few rounds) and ``benchmarks/crash.py`` (50). A
write counts as acknowledged only once its response arrived; a request cut off by the kill may
or may not have happened, and is not checked.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm

from tests.audit.helpers import audit_cli, find
from tests.compat.sdk import new_sdk, ram_sdk
from tests.conftest import ServerProcess


@dataclass
class Acknowledged:
    """Every write a client saw succeed, by kind."""

    keys: list[str] = field(default_factory=list)
    blobs: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    secrets: list[tuple[str, str, str]] = field(default_factory=list)  # name, version, value
    users: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)  # of every acknowledged request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        """How many acknowledged writes there are."""
        return len(self.keys) + len(self.blobs) + len(self.secrets) + len(self.users)


@dataclass(frozen=True)
class RoundResult:
    """What one round wrote and what was missing after the restart."""

    acknowledged: int
    by_kind: dict[str, int]
    lost: list[str]
    load_seconds: float


def _client_loop(server: ServerProcess, key_id: str, acked: Acknowledged) -> None:
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    ram = ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    tag = uuid.uuid4().hex[:8]
    secret = f"crash-{tag}"
    step = 0
    try:
        while True:
            step += 1
            op = step % 6
            if op == 0:
                made = kms.create_key(km.CreateKeyRequest()).body
                with acked.lock:
                    acked.keys.append(made.key_metadata.key_id)
                    acked.request_ids.append(made.request_id)
            elif op in (1, 4):
                plain = os.urandom(32)
                context = {"round": tag, "n": str(step)}
                sealed = kms.encrypt(
                    km.EncryptRequest(
                        key_id=key_id,
                        plaintext=base64.b64encode(plain).decode(),
                        encryption_context=context,
                    )
                ).body
                with acked.lock:
                    acked.blobs.append((sealed.ciphertext_blob, plain, context))
                    acked.request_ids.append(sealed.request_id)
            elif op == 2 and step == 2:
                answer = kms.create_secret(
                    km.CreateSecretRequest(
                        secret_name=secret, secret_data=f"v-{step}", version_id=f"v{step}"
                    )
                ).body
                with acked.lock:
                    acked.secrets.append((secret, f"v{step}", f"v-{step}"))
                    acked.request_ids.append(answer.request_id)
            elif op in (2, 3):
                put = kms.put_secret_value(
                    km.PutSecretValueRequest(
                        secret_name=secret, secret_data=f"v-{step}", version_id=f"v{step}"
                    )
                ).body
                with acked.lock:
                    acked.secrets.append((secret, f"v{step}", f"v-{step}"))
                    acked.request_ids.append(put.request_id)
            else:
                user = f"crash-{tag}-{step}"
                created = ram.create_user(rm.CreateUserRequest(user_name=user)).body
                with acked.lock:
                    acked.users.append(user)
                    acked.request_ids.append(created.request_id)
    except Exception:  # the kill cuts every client off; that ends its loop
        return


def crash_round(server: ServerProcess, clients: int, rng: random.Random) -> RoundResult:
    """One round on a running ``server``: load, SIGKILL, restart, verify. Leaves it running."""
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    acked = Acknowledged(keys=[key_id])
    threads = [
        threading.Thread(target=_client_loop, args=(server, key_id, acked), daemon=True)
        for _ in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(0.4, 1.5))
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    load_seconds = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=60)
    server.start()
    # Before any new request: the chain, torn record sealed at this start, verifies, and every
    # acknowledged request has its record (it was durable before the response left).
    audit_lost = _unaudited(server, acked)
    return RoundResult(
        acknowledged=acked.count(),
        by_kind={
            "CreateKey": len(acked.keys),
            "Encrypt": len(acked.blobs),
            "CreateSecret/PutSecretValue": len(acked.secrets),
            "CreateUser": len(acked.users),
        },
        lost=audit_lost + _missing(server, acked),
        load_seconds=load_seconds,
    )


def _unaudited(server: ServerProcess, acked: Acknowledged) -> list[str]:
    """The audit chain's break, if any, and each acknowledged request without a record."""
    # Keyed: the audit key is in the server's store (PostgreSQL or the data dir's SQLite).
    done = audit_cli(server.data_dir, "verify", "--store-url", server.store_url)
    if done.returncode != 0:
        return [f"audit chain: {done.stdout.strip()} {done.stderr.strip()}"]
    # The outcome record: an intent record alone (docs/audit.md) is no record of an answer.
    recorded = {r["request_id"] for r in find(server.data_dir) if r["type"] == "request"}
    return [
        f"request {rid} has no audit record" for rid in acked.request_ids if rid not in recorded
    ]


def _missing(server: ServerProcess, acked: Acknowledged) -> list[str]:
    """Each acknowledged write that the restarted server does not show, described."""
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    ram = ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    lost: list[str] = []
    for key_id in acked.keys:
        state = kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
        if state.key_state != "Enabled":
            lost.append(f"key {key_id} is {state.key_state}")
    for blob, plain, context in acked.blobs:
        try:
            out = kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context=context))
            if base64.b64decode(out.body.plaintext) != plain:
                lost.append(f"ciphertext {blob[:20]}… decrypts to something else")
        except Exception as exc:  # recorded as a loss, with its reason
            lost.append(f"ciphertext {blob[:20]}… does not decrypt: {exc}")
    for name, version, value in acked.secrets:
        try:
            got = kms.get_secret_value(
                km.GetSecretValueRequest(secret_name=name, version_id=version)
            ).body.secret_data
            if got != value:
                lost.append(f"secret {name} {version} holds {got!r}")
        except Exception as exc:
            lost.append(f"secret {name} {version} is gone: {exc}")
    for user in acked.users:
        try:
            ram.get_user(rm.GetUserRequest(user_name=user))
        except Exception as exc:
            lost.append(f"RAM user {user} is gone: {exc}")
    return lost
