"""Secret policies through the official new SDK: SetSecretPolicy/GetSecretPolicy, and their
effect on the next request (identity OR secret policy in the account; explicit Deny wins)."""

from __future__ import annotations

import json
import uuid

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.ram_helpers import RamUser, allow, deny, doc, grant, new_user
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess

FORBIDDEN = ("Forbidden.NoPermission", 403)


def new_secret(kms: Client) -> str:
    name = f"sp-{uuid.uuid4().hex[:12]}"
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x"))
    return name


def set_policy(kms: Client, name: str, policy: str) -> None:
    kms.set_secret_policy(km.SetSecretPolicyRequest(secret_name=name, policy=policy))


def get_policy(kms: Client, name: str) -> str:
    return str(kms.get_secret_policy(km.GetSecretPolicyRequest(secret_name=name)).body.policy)


@pytest.fixture
def user(server: ServerProcess, ram: RamClient) -> RamUser:
    """A fresh RAM user without policies."""
    return new_user(server, ram)


def read(user: RamUser, name: str) -> str:
    return str(
        user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=name)).body.secret_data
    )


def test_set_and_get(kms: Client) -> None:
    name = new_secret(kms)
    assert "Enable RAM User Permissions" in get_policy(kms, name)
    policy = doc({"Effect": "Allow", "Principal": "*", "Action": "kms:GetSecretValue"})
    set_policy(kms, name, policy)
    assert get_policy(kms, name) == policy
    request = km.GetSecretPolicyRequest(secret_name=name, policy_name="default")
    assert kms.get_secret_policy(request).body.policy == policy


def test_errors_change_nothing(kms: Client) -> None:
    name = new_secret(kms)
    good = doc({"Effect": "Allow", "Principal": "*", "Action": "kms:GetSecretValue"})
    set_policy(kms, name, good)
    expect_error("MalformedPolicyDocument", 400, lambda: set_policy(kms, name, "{not json"))
    expect_error("MalformedPolicyDocument", 400, lambda: set_policy(kms, name, doc(allow("kms:*"))))
    other = km.SetSecretPolicyRequest(secret_name=name, policy=good, policy_name="other")
    expect_error("InvalidParameter", 400, lambda: kms.set_secret_policy(other))
    assert get_policy(kms, name) == good
    missing = f"sp-{uuid.uuid4().hex}"
    expect_error("Forbidden.ResourceNotFound", 404, lambda: set_policy(kms, missing, good))
    expect_error("Forbidden.ResourceNotFound", 404, lambda: get_policy(kms, missing))
    kms.delete_secret(km.DeleteSecretRequest(secret_name=name))
    expect_error("Rejected.ResourceInDeleteWindow", 409, lambda: set_policy(kms, name, good))
    assert get_policy(kms, name) == good


def test_a_secret_policy_grants_in_its_account(kms: Client, user: RamUser) -> None:
    name, other = new_secret(kms), new_secret(kms)
    expect_error(*FORBIDDEN, lambda: read(user, name))
    grant_doc = {"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:Get*"}
    set_policy(kms, name, doc(grant_doc))
    assert read(user, name) == "x"
    expect_error(*FORBIDDEN, lambda: read(user, other))
    # Replacing the policy takes effect on the next request.
    set_policy(kms, name, doc({**grant_doc, "Principal": {"RAM": ["acs:ram::1:user/x"]}}))
    expect_error(*FORBIDDEN, lambda: read(user, name))


def test_an_explicit_deny_in_either_wins(kms: Client, ram: RamClient, user: RamUser) -> None:
    name = new_secret(kms)
    grant(ram, user.name, doc(allow("kms:GetSecretValue")))
    assert read(user, name) == "x"
    set_policy(
        kms,
        name,
        doc({"Effect": "Deny", "Principal": {"RAM": [user.arn]}, "Action": "kms:GetSecretValue"}),
    )
    expect_error(*FORBIDDEN, lambda: read(user, name))
    other = new_secret(kms)
    set_policy(
        kms, other, doc({"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:*"})
    )
    grant(ram, user.name, doc(deny("kms:GetSecretValue", resource=f"acs:kms:*:*:secret/{other}")))
    expect_error(*FORBIDDEN, lambda: read(user, other))


def test_a_policy_is_purged_with_its_secret(kms: Client, user: RamUser) -> None:
    name = new_secret(kms)
    grant_doc = {"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:*"}
    set_policy(kms, name, doc(grant_doc))
    assert read(user, name) == "x"
    kms.delete_secret(
        km.DeleteSecretRequest(secret_name=name, force_delete_without_recovery="true")
    )
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="y"))
    expect_error(*FORBIDDEN, lambda: read(user, name))
    assert "Enable RAM User Permissions" in get_policy(kms, name)


def test_create_secret_with_a_policy(kms: Client, user: RamUser) -> None:
    name = f"sp-{uuid.uuid4().hex[:12]}"
    policy = doc(allow("kms:GetSecretValue", "*", Principal={"RAM": [user.arn]}))
    kms.create_secret(
        km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x", policy=policy)
    )
    assert json.loads(get_policy(kms, name)) == json.loads(policy)
    assert read(user, name) == "x"


def test_create_secret_with_a_bad_policy_creates_nothing(kms: Client) -> None:
    name = f"sp-{uuid.uuid4().hex[:12]}"
    expect_error(
        "MalformedPolicyDocument",
        400,
        lambda: kms.create_secret(
            km.CreateSecretRequest(
                secret_name=name, version_id="v1", secret_data="x", policy="{not json"
            )
        ),
    )
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.describe_secret(km.DescribeSecretRequest(secret_name=name)),
    )
