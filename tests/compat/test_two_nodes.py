"""Two ``mamori server`` processes on one PostgreSQL store (the same root key): a change made
through one node reaches the other's caches through LISTEN/NOTIFY, without waiting for any TTL.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from mamori.store.notify import RETRY_SECONDS
from tests.compat.sdk import b64, new_sdk, ram_sdk
from tests.conftest import ServerProcess, create_pg_database, drop_pg_database, free_port

# Far below every TTL involved (secret views 1 s, role sessions 5 s; keys have none).
DEADLINE = 0.9


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    pg = create_pg_database()
    first = ServerProcess("postgres", tmp_path / "a", pg.url, free_port(), free_port())
    second = ServerProcess("postgres", tmp_path / "b", pg.url, free_port(), free_port())
    started: list[ServerProcess] = []
    try:
        first.start()
        started.append(first)
        # The second node shares the store and the root key that seals its keyring.
        (tmp_path / "b").mkdir()
        shutil.copy2(tmp_path / "a" / "root.key", tmp_path / "b" / "root.key")
        shutil.copy2(tmp_path / "a" / "admin.credentials", tmp_path / "b" / "admin.credentials")
        second.start()
        started.append(second)
        yield first, second
    finally:
        for node in started:
            node.stop()
        drop_pg_database(pg)


def sdk(node: ServerProcess, ak: str | None = None, secret: str | None = None) -> Client:
    return new_sdk(node.endpoint, ak or node.access_key_id, secret or node.access_key_secret)


def code_of(call: Callable[[], object]) -> str:
    try:
        call()
    except AlibabaCloudException as exc:
        return str(exc.code)
    return "ok"


def soon(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"the other node did not see {what} in time"
        time.sleep(0.02)


def test_key_changes_reach_the_other_node(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = sdk(nodes[0]), sdk(nodes[1])
    key_id = a.create_key(km.CreateKeyRequest()).body.key_metadata.key_id

    def encrypt_on_b() -> str:
        return code_of(lambda: b.encrypt(km.EncryptRequest(key_id=key_id, plaintext=b64(b"x"))))

    assert encrypt_on_b() == "ok"  # node b has the key cached now
    a.disable_key(km.DisableKeyRequest(key_id=key_id))
    soon("DisableKey", lambda: encrypt_on_b() == "Rejected.Disabled")
    a.enable_key(km.EnableKeyRequest(key_id=key_id))
    soon("EnableKey", lambda: encrypt_on_b() == "ok")

    alias = "alias/two-nodes"
    a.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    assert b.describe_key(km.DescribeKeyRequest(key_id=alias)).body.key_metadata.key_id == key_id
    a.delete_alias(km.DeleteAliasRequest(alias_name=alias))
    soon(
        "DeleteAlias",
        lambda: (
            code_of(lambda: b.describe_key(km.DescribeKeyRequest(key_id=alias)))
            == "Forbidden.KeyNotFound"
        ),
    )


def test_access_key_and_policy_changes_reach_the_other_node(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    admin_ram = ram_sdk(nodes[0].endpoint, nodes[0].access_key_id, nodes[0].access_key_secret)
    admin_ram.create_user(rm.CreateUserRequest(user_name="nodes-user"))
    key = admin_ram.create_access_key(
        rm.CreateAccessKeyRequest(user_name="nodes-user")
    ).body.access_key
    user_on_b = sdk(nodes[1], key.access_key_id, key.access_key_secret)

    def list_on_b() -> str:
        return code_of(lambda: user_on_b.list_keys(km.ListKeysRequest()))

    assert list_on_b() == "Forbidden.NoPermission"  # authenticated, not allowed
    admin_ram.attach_policy_to_user(
        rm.AttachPolicyToUserRequest(
            policy_type="System", policy_name="AliyunKMSFullAccess", user_name="nodes-user"
        )
    )
    soon("AttachPolicyToUser", lambda: list_on_b() == "ok")
    admin_ram.update_access_key(
        rm.UpdateAccessKeyRequest(
            user_name="nodes-user", user_access_key_id=key.access_key_id, status="Inactive"
        )
    )
    soon("UpdateAccessKey", lambda: list_on_b() == "InvalidAccessKeyId.Inactive")


def test_secret_changes_reach_the_other_node(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = sdk(nodes[0]), sdk(nodes[1])
    a.create_secret(km.CreateSecretRequest(secret_name="shared", version_id="v1", secret_data="1"))

    def read_on_b() -> str:
        body = b.get_secret_value(km.GetSecretValueRequest(secret_name="shared")).body
        return str(body.secret_data)

    assert read_on_b() == "1"
    a.put_secret_value(
        km.PutSecretValueRequest(secret_name="shared", version_id="v2", secret_data="2")
    )
    soon("PutSecretValue", lambda: read_on_b() == "2")
    key_id = str(
        a.describe_secret(km.DescribeSecretRequest(secret_name="shared")).body.encryption_key_id
    )
    a.disable_key(km.DisableKeyRequest(key_id=key_id))
    soon(
        "DisableKey of the secret's key",
        lambda: code_of(read_on_b) == "Rejected.Disabled",
    )


def test_a_node_that_lost_its_listener_reconnects(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = sdk(nodes[0]), sdk(nodes[1])
    key_id = a.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    assert b.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_state == (
        "Enabled"
    )
    with psycopg.connect(nodes[0].store_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        ).fetchone()
    assert killed is not None and killed[0] == 2  # one listener per node
    # Changed while nobody listens: the reconnect resets every cache, so it is seen anyway.
    a.disable_key(km.DisableKeyRequest(key_id=key_id))

    def state_on_b() -> str:
        meta = b.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
        return str(meta.key_state)

    deadline = time.monotonic() + RETRY_SECONDS + 5
    while state_on_b() != "Disabled":
        assert time.monotonic() < deadline, "node b never saw the change after reconnecting"
        time.sleep(0.05)
    a.enable_key(km.EnableKeyRequest(key_id=key_id))
    soon("EnableKey after the reconnect", lambda: state_on_b() == "Enabled")
