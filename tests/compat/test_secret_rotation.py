"""Rotation of Generic secrets through the official new SDK: the rotation policy, RotateSecret
with the ExtendedConfig's password options, and automatic rotation by the server's jobs pass."""

from __future__ import annotations

import time
import uuid

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from sqlalchemy import create_engine, update

from mamori.store import schema as t
from mamori.store.engine import normalize_url
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess


def unique() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def describe(kms: Client, name: str) -> km.DescribeSecretResponseBody:
    return kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body


def current(kms: Client, name: str) -> km.GetSecretValueResponseBody:
    return kms.get_secret_value(km.GetSecretValueRequest(secret_name=name)).body


def test_create_with_rotation_and_describe(kms: Client) -> None:
    name = unique()
    created = kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_data="seed",
            enable_automatic_rotation=True,
            rotation_interval="1d",
        )
    ).body
    assert created.automatic_rotation == "Enabled" and created.rotation_interval == "86400s"
    meta = describe(kms, name)
    assert (meta.automatic_rotation, meta.rotation_interval) == ("Enabled", "86400s")
    assert meta.next_rotation_date.endswith("Z") and meta.last_rotation_date == ""
    value = current(kms, name)
    assert value.automatic_rotation == "Enabled" and value.next_rotation_date
    plain = unique()
    kms.create_secret(km.CreateSecretRequest(secret_name=plain, version_id="v1", secret_data="x"))
    meta = describe(kms, plain)
    assert (meta.automatic_rotation, meta.rotation_interval, meta.next_rotation_date) == (
        "Disabled",
        "",
        "",
    )


def test_rotate_secret_makes_a_new_current_version(kms: Client) -> None:
    name = unique()
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_data="seed",
            extended_config={"PasswordLength": "20", "ExcludeCharacters": "abcdef"},
        )
    )
    request = km.RotateSecretRequest(secret_name=name, version_id="v2")
    rotated = kms.rotate_secret(request).body
    assert (rotated.secret_name, rotated.version_id) == (name, "v2")
    assert rotated.arn.endswith(f":secret/{name}")
    value = current(kms, name)
    assert value.version_id == "v2" and value.secret_data != "seed"
    assert len(value.secret_data) == 20 and not set("abcdef") & set(value.secret_data)
    previous = kms.get_secret_value(
        km.GetSecretValueRequest(secret_name=name, version_stage="ACSPrevious")
    ).body
    assert previous.version_id == "v1" and previous.secret_data == "seed"
    assert describe(kms, name).last_rotation_date.endswith("Z")
    # The same VersionId again changes nothing.
    again = kms.rotate_secret(request).body
    assert (again.secret_name, again.version_id) == (name, "v2")
    assert current(kms, name).secret_data == value.secret_data

    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.rotate_secret(km.RotateSecretRequest(secret_name=unique(), version_id="v2")),
    )
    kms.delete_secret(km.DeleteSecretRequest(secret_name=name))
    expect_error(
        "Rejected.ResourceInDeleteWindow",
        409,
        lambda: kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v3")),
    )


def test_update_rotation_policy_and_bad_intervals(kms: Client) -> None:
    name = unique()
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x"))
    kms.update_secret_rotation_policy(
        km.UpdateSecretRotationPolicyRequest(
            secret_name=name, enable_automatic_rotation=True, rotation_interval="6h"
        )
    )
    meta = describe(kms, name)
    assert (meta.automatic_rotation, meta.rotation_interval) == ("Enabled", "21600s")
    assert meta.next_rotation_date
    kms.update_secret_rotation_policy(
        km.UpdateSecretRotationPolicyRequest(secret_name=name, enable_automatic_rotation=False)
    )
    meta = describe(kms, name)
    assert (meta.automatic_rotation, meta.next_rotation_date) == ("Disabled", "")

    for interval in ("5h", "8761h", "366d", "7x", "abc"):
        policy = km.UpdateSecretRotationPolicyRequest(
            secret_name=name, enable_automatic_rotation=True, rotation_interval=interval
        )
        expect_error("InvalidParameter", 400, lambda p=policy: kms.update_secret_rotation_policy(p))
        create = km.CreateSecretRequest(
            secret_name=unique(),
            version_id="v1",
            secret_data="x",
            enable_automatic_rotation=True,
            rotation_interval=interval,
        )
        expect_error("InvalidParameter", 400, lambda c=create: kms.create_secret(c))
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.update_secret_rotation_policy(
            km.UpdateSecretRotationPolicyRequest(
                secret_name=unique(), enable_automatic_rotation=False
            )
        ),
    )


def test_the_server_rotates_a_due_secret(kms: Client, server: ServerProcess) -> None:
    name = unique()
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_data="seed",
            enable_automatic_rotation=True,
            rotation_interval="7d",
            extended_config={"PasswordLength": "16"},
        )
    )
    engine = create_engine(normalize_url(server.store_url))
    with engine.begin() as conn:
        conn.execute(
            update(t.secrets)
            .where(t.secrets.c.name == name)
            .values(next_rotation_at=int(time.time()) - 1)
        )
    engine.dispose()
    deadline = time.monotonic() + 10
    while current(kms, name).version_id == "v1":
        assert time.monotonic() < deadline, "the secret was not rotated in time"
        time.sleep(0.2)
    value = current(kms, name)
    assert value.version_id.startswith("auto-") and len(value.secret_data) == 16
    meta = describe(kms, name)
    assert meta.last_rotation_date and meta.next_rotation_date > meta.last_rotation_date
