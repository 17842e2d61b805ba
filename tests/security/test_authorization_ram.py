"""Attacks on RAM authorization (issue 9, items 9, 11a, 11b and 12), replayed against a real
server with the official RAM, STS and KMS SDKs, as RAM users holding specific policies.

- A rename is authorized on the new name too: a user may not rename itself (or a group) into a
  name a policy trusts or denies.
- AccessKey actions without UserName act on the caller, and are authorized on the caller's ARN.
- Role ARNs keep the case the role was created with, and role names match without regard to
  case, so a Deny on ``role/KmsAdmin`` covers every spelling of that role.
- The system policies users attach when delegating exist and grant what they say.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sm
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models

from mamori.config import Settings
from tests.compat.ram_helpers import RamUser, allow, deny, doc, grant, new_user, unique
from tests.compat.sdk import b64, expect_error, new_sdk
from tests.conftest import ServerProcess


def _account(server: ServerProcess) -> str:
    return Settings(data_dir=server.data_dir, store_url=server.store_url).account_id


def _sts(server: ServerProcess, ak: str, secret: str, token: str | None = None) -> StsClient:
    return StsClient(
        open_api_models.Config(
            access_key_id=ak,
            access_key_secret=secret,
            security_token=token,
            endpoint=server.endpoint,
            protocol="http",
        )
    )


def _user_sts(server: ServerProcess, ram: RamClient, user: RamUser) -> StsClient:
    """STS signed by ``user`` (with a second AccessKey the administrator makes for it)."""
    key = ram.create_access_key(rm.CreateAccessKeyRequest(user_name=user.name)).body.access_key
    return _sts(server, key.access_key_id, key.access_key_secret)


def _trusting_account(account: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [f"acs:ram::{account}:root"]},
        }
    )


def _new_role(ram: RamClient, name: str, account: str) -> Any:
    request = rm.CreateRoleRequest(
        role_name=name, assume_role_policy_document=_trusting_account(account)
    )
    return ram.create_role(request).body.role


def _attach_system(ram: RamClient, policy: str, user: str) -> None:
    ram.attach_policy_to_user(
        rm.AttachPolicyToUserRequest(policy_type="System", policy_name=policy, user_name=user)
    )


# -- item 9: a rename is authorized on the new name too ----------------------------------------


def test_a_user_cannot_rename_itself_into_a_name_it_may_not_touch(
    server: ServerProcess, ram: RamClient
) -> None:
    attacker = new_user(server, ram, "renamer")
    trusted = unique("trusted")
    # The attacker may manage itself only: a self-service policy.
    grant(ram, attacker.name, doc(allow("ram:UpdateUser", attacker.arn)))
    rename = rm.UpdateUserRequest(user_name=attacker.name, new_user_name=trusted)
    error = expect_error("Forbidden.NoPermission", 403, lambda: attacker.ram.update_user(rename))
    assert "ram:UpdateUser" in error.message
    # Still called what it was: nothing was renamed.
    assert ram.get_user(rm.GetUserRequest(user_name=attacker.name)).body.user.user_name


def test_a_deny_on_the_new_user_name_stops_a_rename(server: ServerProcess, ram: RamClient) -> None:
    admin = new_user(server, ram, "useradmin")
    victim = unique("victim")
    ram.create_user(rm.CreateUserRequest(user_name=victim))
    reserved = unique("reserved")
    account = _account(server)
    grant(
        ram,
        admin.name,
        doc(
            allow("ram:*", "*"),
            deny("ram:UpdateUser", f"acs:ram::{account}:user/{reserved}"),
        ),
    )
    rename = rm.UpdateUserRequest(user_name=victim, new_user_name=reserved)
    expect_error("Forbidden.NoPermission", 403, lambda: admin.ram.update_user(rename))
    # Allowed on both names, the rename goes through.
    other = unique("renamed")
    done = admin.ram.update_user(rm.UpdateUserRequest(user_name=victim, new_user_name=other))
    assert done.body.user.user_name == other


def test_a_group_cannot_be_renamed_into_a_name_the_caller_may_not_touch(
    server: ServerProcess, ram: RamClient
) -> None:
    caller = new_user(server, ram, "grouprenamer")
    account = _account(server)
    mine = unique("mine")
    ram.create_group(rm.CreateGroupRequest(group_name=mine))
    grant(ram, caller.name, doc(allow("ram:UpdateGroup", f"acs:ram::{account}:group/{mine}")))
    rename = rm.UpdateGroupRequest(group_name=mine, new_group_name=unique("admins"))
    expect_error("Forbidden.NoPermission", 403, lambda: caller.ram.update_group(rename))
    assert ram.get_group(rm.GetGroupRequest(group_name=mine)).body.group.group_name == mine


# -- item 11a: AccessKey actions without UserName act on the caller ----------------------------


def test_a_deny_on_the_callers_own_arn_stops_its_own_access_key_actions(
    server: ServerProcess, ram: RamClient
) -> None:
    user = new_user(server, ram, "akdeny")
    actions = ["ram:CreateAccessKey", "ram:ListAccessKeys"]
    grant(ram, user.name, doc(allow(actions, "*"), deny(actions, user.arn)))
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.ram.create_access_key(rm.CreateAccessKeyRequest()),
    )
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.ram.list_access_keys(rm.ListAccessKeysRequest()),
    )
    assert (
        len(
            ram.list_access_keys(
                rm.ListAccessKeysRequest(user_name=user.name)
            ).body.access_keys.access_key
        )
        == 1
    )


def test_a_self_service_policy_on_the_callers_arn_lets_it_manage_its_own_keys(
    server: ServerProcess, ram: RamClient
) -> None:
    user = new_user(server, ram, "akself")
    grant(ram, user.name, doc(allow("ram:*AccessKey*", user.arn)))
    listed = user.ram.list_access_keys(rm.ListAccessKeysRequest()).body.access_keys.access_key
    assert len(listed) == 1
    created = user.ram.create_access_key(rm.CreateAccessKeyRequest()).body.access_key
    user.ram.update_access_key(
        rm.UpdateAccessKeyRequest(user_access_key_id=created.access_key_id, status="Inactive")
    )
    user.ram.delete_access_key(rm.DeleteAccessKeyRequest(user_access_key_id=created.access_key_id))
    # The same policy does not reach anyone else's keys.
    other = unique("other")
    ram.create_user(rm.CreateUserRequest(user_name=other))
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.ram.create_access_key(rm.CreateAccessKeyRequest(user_name=other)),
    )


# -- item 11b: role ARNs keep their case; role names match in any case -------------------------


def test_a_role_arn_keeps_the_case_the_role_was_created_with(
    server: ServerProcess, ram: RamClient
) -> None:
    account = _account(server)
    name = f"KmsAdmin-{uuid.uuid4().hex[:8]}"
    created = _new_role(ram, name, account)
    assert created.arn == f"acs:ram::{account}:role/{name}"
    got = ram.get_role(rm.GetRoleRequest(role_name=name.lower())).body.role
    assert (got.role_name, got.arn) == (name, f"acs:ram::{account}:role/{name}")
    # AssumeRole names the session by the role's own ARN, whatever case RoleArn was written in.
    sts = _sts(server, server.access_key_id, server.access_key_secret)
    request = sm.AssumeRoleRequest(role_arn=created.arn.lower(), role_session_name="s1")
    session = sts.assume_role(request).body
    assert session.assumed_role_user.arn == f"acs:ram::{account}:role/{name}/s1"
    c = session.credentials
    caller = _sts(server, c.access_key_id, c.access_key_secret, c.security_token)
    identity = caller.get_caller_identity().body
    assert identity.arn == f"acs:ram::{account}:assumed-role/{name}/s1"


def test_a_deny_on_a_mixed_case_role_arn_applies_in_every_spelling(
    server: ServerProcess, ram: RamClient
) -> None:
    account = _account(server)
    name = f"KmsAdmin-{uuid.uuid4().hex[:8]}"
    _new_role(ram, name, account)
    caller = new_user(server, ram, "roleadmin")
    grant(
        ram,
        caller.name,
        doc(allow(["ram:*", "sts:AssumeRole"], "*"), deny("*", f"acs:ram::{account}:role/{name}")),
    )
    sts = _user_sts(server, ram, caller)
    for spelling in (name, name.lower(), name.upper()):
        update = rm.UpdateRoleRequest(role_name=spelling, new_description="taken over")
        expect_error("Forbidden.NoPermission", 403, lambda u=update: caller.ram.update_role(u))
        arn = f"acs:ram::{account}:role/{spelling}"
        assume = sm.AssumeRoleRequest(role_arn=arn, role_session_name="attack")
        expect_error(
            "Forbidden.NoPermission",
            403,
            lambda a=assume: sts.assume_role(a),
        )


def test_a_deny_written_with_a_lower_cased_role_arn_still_applies(
    server: ServerProcess, ram: RamClient
) -> None:
    # Policies written against the lower-cased ARNs Mamori used to return keep working.
    account = _account(server)
    name = f"Ops-{uuid.uuid4().hex[:8]}"
    _new_role(ram, name, account)
    caller = new_user(server, ram, "roleops")
    lowered = f"acs:ram::{account}:role/{name.lower()}"
    grant(ram, caller.name, doc(allow("ram:*", "*"), deny("ram:DeleteRole", lowered)))
    delete = rm.DeleteRoleRequest(role_name=name)
    expect_error("Forbidden.NoPermission", 403, lambda: caller.ram.delete_role(delete))


def _assume_as(server: ServerProcess, ram: RamClient, name: str, policy: str) -> KmsClient:
    """A role ``name`` holding ``policy``, assumed by a RAM user; KMS as that session."""
    account = _account(server)
    _new_role(ram, name, account)
    grant_role = unique("rolepol")
    ram.create_policy(rm.CreatePolicyRequest(policy_name=grant_role, policy_document=policy))
    ram.attach_policy_to_role(
        rm.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=grant_role, role_name=name)
    )
    user = new_user(server, ram, "assumer")
    grant(ram, user.name, doc(allow("sts:AssumeRole")))
    arn = f"acs:ram::{account}:role/{name}"
    request = sm.AssumeRoleRequest(role_arn=arn, role_session_name="app")
    body = _user_sts(server, ram, user).assume_role(request).body
    c = body.credentials
    return new_sdk(
        server.endpoint, c.access_key_id, c.access_key_secret, security_token=c.security_token
    )


@pytest.mark.parametrize("written", ["as created", "lower-cased"])
def test_a_deny_on_the_assumed_role_principal_arn_applies(
    server: ServerProcess, ram: RamClient, kms: KmsClient, written: str
) -> None:
    account = _account(server)
    name = f"App-{uuid.uuid4().hex[:8]}"
    shown = name if written == "as created" else name.lower()
    principal = f"acs:ram::{account}:assumed-role/{shown}/*"
    policy = doc(
        allow("kms:*"),
        deny("kms:Encrypt", Condition={"StringLike": {"acs:PrincipalARN": principal}}),
    )
    session = _assume_as(server, ram, name, policy)
    key_id = str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)
    encrypt = km.EncryptRequest(key_id=key_id, plaintext=b64(b"x"))
    expect_error("Forbidden.NoPermission", 403, lambda: session.encrypt(encrypt))
    # The rest of the role's policy still holds.
    assert session.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_id


# -- item 12: the system policies users attach when delegating ---------------------------------

NEW_SYSTEM_POLICIES = (
    "AdministratorAccess",
    "AliyunRAMFullAccess",
    "AliyunRAMReadOnlyAccess",
    "AliyunSTSAssumeRoleAccess",
    "AliyunKMSSecretUserAccess",
)


@pytest.mark.parametrize("policy", NEW_SYSTEM_POLICIES)
def test_a_documented_system_policy_exists_and_attaches(ram: RamClient, policy: str) -> None:
    got = ram.get_policy(rm.GetPolicyRequest(policy_name=policy, policy_type="System")).body
    assert got.policy.policy_type == "System"
    assert json.loads(got.default_policy_version.policy_document)["Version"] == "1"
    user = unique("sysattach")
    ram.create_user(rm.CreateUserRequest(user_name=user))
    _attach_system(ram, policy, user)
    listed = ram.list_policies_for_user(rm.ListPoliciesForUserRequest(user_name=user))
    assert [p.policy_name for p in listed.body.policies.policy] == [policy]


def _holder(server: ServerProcess, ram: RamClient, policy: str) -> RamUser:
    user = new_user(server, ram, "holder")
    _attach_system(ram, policy, user.name)
    return user


def test_aliyun_ram_read_only_access_lists_users_but_cannot_create_one(
    server: ServerProcess, ram: RamClient
) -> None:
    user = _holder(server, ram, "AliyunRAMReadOnlyAccess")
    assert user.ram.list_users(rm.ListUsersRequest()).body.users.user
    assert user.ram.get_user(rm.GetUserRequest(user_name=user.name)).body.user.user_name
    create = rm.CreateUserRequest(user_name=unique("nope"))
    expect_error("Forbidden.NoPermission", 403, lambda: user.ram.create_user(create))
    expect_error("Forbidden.NoPermission", 403, lambda: user.kms.create_key(km.CreateKeyRequest()))


def test_aliyun_ram_full_access_manages_ram_but_not_kms(
    server: ServerProcess, ram: RamClient
) -> None:
    user = _holder(server, ram, "AliyunRAMFullAccess")
    made = unique("made")
    user.ram.create_user(rm.CreateUserRequest(user_name=made))
    user.ram.delete_user(rm.DeleteUserRequest(user_name=made))
    expect_error("Forbidden.NoPermission", 403, lambda: user.kms.create_key(km.CreateKeyRequest()))


def test_administrator_access_grants_everything(server: ServerProcess, ram: RamClient) -> None:
    user = _holder(server, ram, "AdministratorAccess")
    assert user.kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    made = unique("made")
    user.ram.create_user(rm.CreateUserRequest(user_name=made))


def test_aliyun_sts_assume_role_access_assumes_a_role_and_nothing_else(
    server: ServerProcess, ram: RamClient
) -> None:
    account = _account(server)
    name = f"Delegated-{uuid.uuid4().hex[:8]}"
    _new_role(ram, name, account)
    user = _holder(server, ram, "AliyunSTSAssumeRoleAccess")
    request = sm.AssumeRoleRequest(
        role_arn=f"acs:ram::{account}:role/{name}", role_session_name="delegated"
    )
    assert _user_sts(server, ram, user).assume_role(request).body.credentials.access_key_id
    create = rm.CreateUserRequest(user_name=unique("nope"))
    expect_error("Forbidden.NoPermission", 403, lambda: user.ram.create_user(create))


def test_aliyun_kms_secret_user_access_reads_secrets_but_cannot_create_keys(
    server: ServerProcess, ram: RamClient, kms: KmsClient
) -> None:
    secret = unique("secret")
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, version_id="v1", secret_data="s"))
    user = _holder(server, ram, "AliyunKMSSecretUserAccess")
    got = user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=secret)).body
    assert got.secret_data == "s"
    assert user.kms.describe_secret(km.DescribeSecretRequest(secret_name=secret)).body.secret_name
    expect_error("Forbidden.NoPermission", 403, lambda: user.kms.create_key(km.CreateKeyRequest()))
    put = km.PutSecretValueRequest(secret_name=secret, version_id="v2", secret_data="t")
    expect_error("Forbidden.NoPermission", 403, lambda: user.kms.put_secret_value(put))


# -- every resource of an attachment or a membership -------------------------------------------


@pytest.mark.parametrize("verb", ["attach", "detach"])
def test_a_deny_on_the_user_stops_changing_its_policies(
    server: ServerProcess, ram: RamClient, verb: str
) -> None:
    """A delegate allowed on every policy but denied on the administrator's user may not hand
    the administrator (or take from it) any policy."""
    account = _account(server)
    delegate = new_user(server, ram, "delegate")
    protected = unique("protected")
    ram.create_user(rm.CreateUserRequest(user_name=protected))
    if verb == "detach":
        _attach_system(ram, "AliyunKMSReadOnlyAccess", protected)
    grant(
        ram,
        delegate.name,
        doc(
            allow(["ram:AttachPolicyToUser", "ram:DetachPolicyFromUser"], "*"),
            deny("ram:*", f"acs:ram::{account}:user/{protected}"),
        ),
    )
    fields = {"policy_type": "System", "policy_name": "AliyunKMSReadOnlyAccess"}
    if verb == "attach":
        request: Any = rm.AttachPolicyToUserRequest(user_name=protected, **fields)
        error = expect_error(
            "Forbidden.NoPermission", 403, lambda: delegate.ram.attach_policy_to_user(request)
        )
    else:
        request = rm.DetachPolicyFromUserRequest(user_name=protected, **fields)
        error = expect_error(
            "Forbidden.NoPermission", 403, lambda: delegate.ram.detach_policy_from_user(request)
        )
    assert f"UserName {protected}" in error.message
    attached = ram.list_policies_for_user(rm.ListPoliciesForUserRequest(user_name=protected))
    names = [p.policy_name for p in attached.body.policies.policy]
    assert names == ([] if verb == "attach" else ["AliyunKMSReadOnlyAccess"])


def test_an_allow_on_the_policy_alone_no_longer_attaches_it_to_anyone(
    server: ServerProcess, ram: RamClient
) -> None:
    """Both resources need an Allow: the policy and the user it is attached to."""
    account = _account(server)
    delegate = new_user(server, ram, "delegate")
    target = unique("target")
    ram.create_user(rm.CreateUserRequest(user_name=target))
    policy_arn = f"acs:ram::{account}:policy/AliyunKMSReadOnlyAccess"
    grant(ram, delegate.name, doc(allow("ram:AttachPolicyToUser", policy_arn)))
    request = rm.AttachPolicyToUserRequest(
        policy_type="System", policy_name="AliyunKMSReadOnlyAccess", user_name=target
    )
    expect_error("Forbidden.NoPermission", 403, lambda: delegate.ram.attach_policy_to_user(request))
    grant(
        ram,
        delegate.name,
        doc(allow("ram:AttachPolicyToUser", f"acs:ram::{account}:user/{target}")),
    )
    delegate.ram.attach_policy_to_user(request)


def test_a_deny_on_the_user_stops_adding_it_to_a_group(
    server: ServerProcess, ram: RamClient
) -> None:
    """A delegate allowed on a powerful group may not put a user it is denied on into it."""
    account = _account(server)
    delegate = new_user(server, ram, "delegate")
    group = unique("admins")
    ram.create_group(rm.CreateGroupRequest(group_name=group))
    protected = unique("protected")
    ram.create_user(rm.CreateUserRequest(user_name=protected))
    grant(
        ram,
        delegate.name,
        doc(
            allow(["ram:AddUserToGroup", "ram:RemoveUserFromGroup"], "*"),
            deny("ram:*", f"acs:ram::{account}:user/{protected}"),
        ),
    )
    request = rm.AddUserToGroupRequest(group_name=group, user_name=protected)
    expect_error("Forbidden.NoPermission", 403, lambda: delegate.ram.add_user_to_group(request))
    members = ram.list_groups_for_user(rm.ListGroupsForUserRequest(user_name=protected))
    assert members.body.groups.group == []


# -- what AssumeRole's caller says about itself reaches the trust policy -----------------------


def _guarded_role(ram: RamClient, account: str, condition: dict[str, Any]) -> str:
    """A role trusting the account only under ``condition``; its ARN."""
    name = f"Deputy-{uuid.uuid4().hex[:8]}"
    trust = doc(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"RAM": [f"acs:ram::{account}:root"]},
            "Condition": condition,
        }
    )
    ram.create_role(rm.CreateRoleRequest(role_name=name, assume_role_policy_document=trust))
    return f"acs:ram::{account}:role/{name}"


def test_a_trust_policy_tests_the_external_id(server: ServerProcess, ram: RamClient) -> None:
    """``sts:ExternalId`` (the confused-deputy guard) was dropped: a role that demands one could
    never be assumed, and a Deny keyed on it never applied."""
    account = _account(server)
    arn = _guarded_role(ram, account, {"StringEquals": {"sts:ExternalId": "tenant-42"}})
    sts = _sts(server, server.access_key_id, server.access_key_secret)
    for external_id in (None, "tenant-41"):
        request = sm.AssumeRoleRequest(
            role_arn=arn, role_session_name="deputy", external_id=external_id
        )
        expect_error("Forbidden.NoPermission", 403, lambda r=request: sts.assume_role(r))
    request = sm.AssumeRoleRequest(
        role_arn=arn, role_session_name="deputy", external_id="tenant-42"
    )
    assert sts.assume_role(request).body.credentials.access_key_id.startswith("STS.")


def test_a_trust_policy_sees_the_callers_address(server: ServerProcess, ram: RamClient) -> None:
    """Trust policies were evaluated with no source address, so an ``acs:SourceIp`` condition
    refused every caller."""
    account = _account(server)
    sts = _sts(server, server.access_key_id, server.access_key_secret)
    inside = _guarded_role(ram, account, {"IpAddress": {"acs:SourceIp": "127.0.0.0/8"}})
    request = sm.AssumeRoleRequest(role_arn=inside, role_session_name="local")
    assert sts.assume_role(request).body.credentials.access_key_id.startswith("STS.")
    outside = _guarded_role(ram, account, {"IpAddress": {"acs:SourceIp": "192.0.2.0/24"}})
    request = sm.AssumeRoleRequest(role_arn=outside, role_session_name="remote")
    expect_error("Forbidden.NoPermission", 403, lambda: sts.assume_role(request))
