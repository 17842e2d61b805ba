"""RAMCredentials secrets through the official SDKs: rotation issues a new AccessKey for a Mamori
RAM user, the replaced one keeps working for its grace period and is then made Inactive, and
the next rotation deletes it to free the slot."""

from __future__ import annotations

import json
import time
import uuid

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from tests.compat.ram_helpers import allow, deny, doc, grant, new_user
from tests.compat.sdk import expect_error, new_sdk
from tests.conftest import ServerProcess


def _user(ram: RamClient) -> tuple[str, str, str]:
    """A RAM user with one AccessKey: (name, AccessKeyId, secret)."""
    name = f"rot-{uuid.uuid4().hex[:10]}"
    ram.create_user(rm.CreateUserRequest(user_name=name))
    key = ram.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    return name, key.access_key_id, key.access_key_secret


def _authenticates(server: ServerProcess, access_key_id: str, secret: str) -> str:
    """What the server says to a request signed with this key: "ok" when it authenticates (the
    user has no permissions, so authorization refuses it), else the error code."""
    try:
        new_sdk(server.endpoint, access_key_id, secret).list_keys(km.ListKeysRequest())
    except AlibabaCloudException as exc:
        return "ok" if exc.code == "Forbidden.NoPermission" else str(exc.code)
    return "ok"


def _create(kms: Client, user: str, access_key_id: str, secret: str, grace: str) -> str:
    body = kms.create_secret(
        km.CreateSecretRequest(
            secret_name="$Auto",
            version_id="v1",
            secret_type="RAMCredentials",
            secret_data=json.dumps(
                {"AccessKeys": [{"AccessKeyId": access_key_id, "AccessKeySecret": secret}]}
            ),
            extended_config={
                "SecretSubType": "RamUserAccessKey",
                "UserName": user,
                "GracePeriod": grace,
            },
            enable_automatic_rotation=True,
            rotation_interval="30d",
        )
    ).body
    assert body.secret_name == f"acs/ram/user/{user}" and body.secret_type == "RAMCredentials"
    return str(body.secret_name)


def _current(kms: Client, name: str) -> tuple[str, str, str]:
    body = kms.get_secret_value(
        km.GetSecretValueRequest(secret_name=name, fetch_extended_config=True)
    ).body
    data = json.loads(body.secret_data)
    assert data["GenerateTimestamp"].endswith("Z")
    assert json.loads(body.extended_config)["SecretSubType"] == "RamUserAccessKey"
    return body.version_id, data["AccessKeyId"], data["AccessKeySecret"]


def _keys(ram: RamClient, user: str) -> dict[str, str]:
    listed = ram.list_access_keys(rm.ListAccessKeysRequest(user_name=user)).body
    return {k.access_key_id: k.status for k in listed.access_keys.access_key}


def test_rotation_issues_a_new_key_and_retires_the_old_one(
    kms: Client, ram: RamClient, server: ServerProcess
) -> None:
    user, first_id, first_secret = _user(ram)
    name = _create(kms, user, first_id, first_secret, grace="1d")
    assert _current(kms, name) == ("v1", first_id, first_secret)

    kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2"))
    version, second_id, second_secret = _current(kms, name)
    assert version == "v2" and second_id != first_id
    assert _authenticates(server, second_id, second_secret) == "ok"
    # Within its grace period the replaced key still works.
    assert _authenticates(server, first_id, first_secret) == "ok"
    assert _keys(ram, user) == {first_id: "Active", second_id: "Active"}

    # The user holds two keys; the next rotation deletes the ACSPrevious one to make room.
    kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v3"))
    _, third_id, third_secret = _current(kms, name)
    assert _keys(ram, user) == {second_id: "Active", third_id: "Active"}
    assert _authenticates(server, first_id, first_secret) == "InvalidAccessKeyId.NotFound"
    assert _authenticates(server, third_id, third_secret) == "ok"


def test_the_replaced_key_is_made_inactive_after_the_grace_period(
    kms: Client, ram: RamClient, server: ServerProcess
) -> None:
    user, first_id, first_secret = _user(ram)
    name = _create(kms, user, first_id, first_secret, grace="0s")
    kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2"))
    _, second_id, second_secret = _current(kms, name)
    deadline = time.monotonic() + 10
    while _keys(ram, user).get(first_id) != "Inactive":
        assert time.monotonic() < deadline, "the old key was not retired in time"
        time.sleep(0.2)
    assert _authenticates(server, first_id, first_secret) == "InvalidAccessKeyId.Inactive"
    assert _authenticates(server, second_id, second_secret) == "ok"


def test_rotation_needs_a_free_slot(kms: Client, ram: RamClient) -> None:
    user, first_id, first_secret = _user(ram)
    name = _create(kms, user, first_id, first_secret, grace="1d")
    # A second key of the user's own, which the secret does not manage: no slot is free.
    ram.create_access_key(rm.CreateAccessKeyRequest(user_name=user))
    expect_error(
        "Rejected.RotationFailed",
        409,
        lambda: kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2")),
    )
    assert _current(kms, name)[0] == "v1"


def test_bad_ram_credential_secrets_are_refused(kms: Client, ram: RamClient) -> None:
    user, key_id, key_secret = _user(ram)

    def create(name: str, data: dict[str, object], subtype: str = "RamUserAccessKey") -> None:
        kms.create_secret(
            km.CreateSecretRequest(
                secret_name=name,
                version_id="v1",
                secret_type="RAMCredentials",
                secret_data=json.dumps(data),
                extended_config={"SecretSubType": subtype, "UserName": user},
            )
        )

    good = {"AccessKeys": [{"AccessKeyId": key_id, "AccessKeySecret": key_secret}]}
    wrong = {"AccessKeys": [{"AccessKeyId": key_id, "AccessKeySecret": "not-the-secret"}]}
    for name, data, subtype, param in (
        (f"named-{user}", good, "RamUserAccessKey", "SecretName"),
        ("$Auto", wrong, "RamUserAccessKey", "SecretData"),
        ("$Auto", {"AccessKeys": []}, "RamUserAccessKey", "SecretData"),
        ("$Auto", good, "Other", "ExtendedConfig"),
    ):
        error = expect_error("InvalidParameter", 400, lambda: create(name, data, subtype))  # noqa: B023
        assert param in str(error.message)
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.describe_secret(km.DescribeSecretRequest(secret_name=f"acs/ram/user/{user}")),
    )


def test_creating_one_is_authorized_on_its_real_name(ram: RamClient, server: ServerProcess) -> None:
    """The request names ``$Auto``; policies about ``acs/ram/user/<UserName>`` must still hold."""
    target, key_id, key_secret = _user(ram)
    creator = new_user(server, ram)
    grant(
        ram,
        creator.name,
        doc(
            allow("kms:CreateSecret"),
            deny("kms:CreateSecret", f"acs:kms:*:*:secret/acs/ram/user/{target}"),
        ),
    )

    def create() -> None:
        creator.kms.create_secret(
            km.CreateSecretRequest(
                secret_name="$Auto",
                version_id="v1",
                secret_type="RAMCredentials",
                secret_data=json.dumps(
                    {"AccessKeys": [{"AccessKeyId": key_id, "AccessKeySecret": key_secret}]}
                ),
                extended_config={"SecretSubType": "RamUserAccessKey", "UserName": target},
            )
        )

    expect_error("Forbidden.NoPermission", 403, create)
