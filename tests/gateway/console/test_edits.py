"""The console's edits of aliases, tags, key policies and AccessKeys are the API's: a RAM user
with only ``AliyunKMSCryptoUserAccess`` is refused each with the API's own code, a forged CSRF
token refuses each before anything runs, and in every case nothing changes. Raw HTTP against a
real server (the browser test shows the same edits succeed for the administrator)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.ram_helpers import unique
from tests.conftest import ServerProcess
from tests.gateway.console.conftest import Identity, sign_in

pytestmark = pytest.mark.timeout(60)


def _state(admin_kms: Any, admin_ram: RamClient, key_id: str, user: str) -> Any:
    """Everything the edits below could change."""
    aliases = admin_kms.list_aliases_by_key_id(km.ListAliasesByKeyIdRequest(key_id=key_id))
    tags = admin_kms.list_resource_tags(km.ListResourceTagsRequest(key_id=key_id))
    policy = admin_kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key_id, policy_name="default"))
    keys = admin_ram.list_access_keys(rm.ListAccessKeysRequest(user_name=user))
    meta = admin_kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    groups = admin_ram.list_groups_for_user(rm.ListGroupsForUserRequest(user_name=user))
    return (
        meta.key_state,
        meta.primary_key_version,
        [g.group_name for g in groups.body.groups.group],
        sorted(a.alias_name for a in aliases.body.aliases.alias),
        sorted((t.tag_key, t.tag_value) for t in tags.body.tags.tag),
        policy.body.policy,
        sorted(k.access_key_id for k in keys.body.access_keys.access_key),
    )


@pytest.fixture
def target(admin_kms: Any, admin_ram: RamClient) -> tuple[str, str, str, str]:
    """A key with an alias and a tag; a RAM user with an AccessKey."""
    key_id = admin_kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    alias = f"alias/{unique('edits')}"
    admin_kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    admin_kms.tag_resource(
        km.TagResourceRequest(key_id=key_id, tags=json.dumps([{"TagKey": "team", "TagValue": "a"}]))
    )
    user = unique("edits")
    admin_ram.create_user(rm.CreateUserRequest(user_name=user))
    made = admin_ram.create_access_key(rm.CreateAccessKeyRequest(user_name=user))
    return key_id, alias, user, made.body.access_key.access_key_id


def _edits(
    key_id: str, alias: str, user: str, user_key: str
) -> list[tuple[str, dict[str, str], str]]:
    """(path, form, the action the API refuses) for each edit."""
    keys, users = f"/console/keys/{key_id}", f"/console/ram/users/{user}"
    policy = json.dumps({"Version": "1", "Statement": []})
    return [
        (f"{keys}/aliases", {"AliasName": f"{alias}-2"}, "kms:CreateAlias"),
        (f"{keys}/aliases/delete", {"AliasName": alias}, "kms:DeleteAlias"),
        (f"{keys}/tags", {"TagKey": "team", "TagValue": "b"}, "kms:TagResource"),
        (f"{keys}/tags/delete", {"TagKey": "team"}, "kms:UntagResource"),
        (f"{keys}/policy", {"Policy": policy}, "kms:SetKeyPolicy"),
        (f"{users}/access-keys", {}, "ram:CreateAccessKey"),
        (f"{users}/access-keys/delete", {"UserAccessKeyId": user_key}, "ram:DeleteAccessKey"),
        # The edits the console had before, refused as well.
        ("/console/ram/users", {"UserName": f"{user}-2"}, "ram:CreateUser"),
        (f"{users}/delete", {}, "ram:DeleteUser"),
        (f"{users}/join", {"GroupName": "any"}, "ram:AddUserToGroup"),
        (f"{users}/leave", {"GroupName": "any"}, "ram:RemoveUserFromGroup"),
        (
            f"{users}/attach",
            {"PolicyName": "AliyunKMSFullAccess", "PolicyType": "System"},
            "ram:AttachPolicyToUser",
        ),
        (f"{keys}/disable", {}, "kms:DisableKey"),
        (f"{keys}/rotate", {}, "kms:CreateKeyVersion"),
    ]


def test_a_crypto_user_is_refused_every_edit_with_the_apis_code(
    console_server: ServerProcess,
    crypto_user: Identity,
    admin_kms: Any,
    admin_ram: RamClient,
    target: tuple[str, str, str, str],
) -> None:
    key_id, _, user, _ = target
    before = _state(admin_kms, admin_ram, key_id, user)
    client, csrf = sign_in(console_server, crypto_user)
    try:
        for path, form, action in _edits(*target):
            answer = client.post(path, data={"csrf": csrf, **form})
            assert answer.status_code == 403, (path, answer.text)
            assert "Forbidden.NoPermission" in answer.text, path
            assert action in answer.text, path
    finally:
        client.close()
    assert _state(admin_kms, admin_ram, key_id, user) == before


def test_a_forged_csrf_token_refuses_every_edit_before_it_runs(
    console_server: ServerProcess,
    admin: Identity,
    admin_kms: Any,
    admin_ram: RamClient,
    target: tuple[str, str, str, str],
) -> None:
    key_id, _, user, _ = target
    before = _state(admin_kms, admin_ram, key_id, user)
    client, csrf = sign_in(console_server, admin)
    forged = csrf[:-4] + ("AAAA" if not csrf.endswith("AAAA") else "BBBB")
    try:
        for path, form, _ in _edits(*target):
            answer = client.post(path, data={"csrf": forged, **form})
            assert answer.status_code == 403, (path, answer.text)
            assert "The form&#39;s CSRF token is not this session&#39;s." in answer.text
    finally:
        client.close()
    assert _state(admin_kms, admin_ram, key_id, user) == before


def test_the_secret_and_ram_edits_do_what_they_say(
    console_server: ServerProcess, admin: Identity, admin_kms: Any, admin_ram: RamClient
) -> None:
    name, user, group = unique("edits/secret"), unique("edits-user"), unique("edits-group")
    admin_kms.create_secret(
        km.CreateSecretRequest(secret_name=name, secret_data="one", version_id="v1")
    )
    admin_ram.create_group(rm.CreateGroupRequest(group_name=group))
    client, csrf = sign_in(console_server, admin)

    def post(path: str, **form: str) -> str:
        answer = client.post(path, data={"csrf": csrf, **form})
        assert answer.status_code == 303, (path, answer.text)
        page = client.get(answer.headers["location"])
        assert page.status_code == 200
        return page.text

    def stages() -> dict[str, list[str]]:
        listed = admin_kms.list_secret_version_ids(
            km.ListSecretVersionIdsRequest(secret_name=name, include_deprecated="true")
        )
        return {
            v.version_id: v.version_stages.version_stage for v in listed.body.version_ids.version_id
        }

    try:
        assert f"Stored version v2 of {name}." in post(
            "/console/secret/put", name=name, VersionId="v2", SecretData="two"
        )
        assert stages() == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}
        assert f"Scheduled {name} for deletion." in post(
            "/console/secret/delete", name=name, RecoveryWindowInDays="7"
        )
        described = admin_kms.describe_secret(km.DescribeSecretRequest(secret_name=name))
        assert described.body.planned_delete_time
        assert f"Restored {name}." in post("/console/secret/restore", name=name)
        described = admin_kms.describe_secret(km.DescribeSecretRequest(secret_name=name))
        assert not described.body.planned_delete_time

        assert f"Created user {user}." in post("/console/ram/users", UserName=user)
        base = f"/console/ram/users/{user}"
        assert f"Added {user} to {group}." in post(f"{base}/join", GroupName=group)
        assert f"Attached AliyunKMSReadOnlyAccess to {user}." in post(
            f"{base}/attach", PolicyName="AliyunKMSReadOnlyAccess", PolicyType="System"
        )
        groups = admin_ram.list_groups_for_user(rm.ListGroupsForUserRequest(user_name=user))
        assert [g.group_name for g in groups.body.groups.group] == [group]
        policies = admin_ram.list_policies_for_user(rm.ListPoliciesForUserRequest(user_name=user))
        assert [p.policy_name for p in policies.body.policies.policy] == ["AliyunKMSReadOnlyAccess"]
        assert f"Detached AliyunKMSReadOnlyAccess from {user}." in post(
            f"{base}/detach", PolicyName="AliyunKMSReadOnlyAccess", PolicyType="System"
        )
        assert f"Removed {user} from {group}." in post(f"{base}/leave", GroupName=group)
        assert f"Deleted user {user}." in post(f"{base}/delete")
        users = admin_ram.list_users(rm.ListUsersRequest(max_items=1000))
        assert user not in {u.user_name for u in users.body.users.user}
    finally:
        client.close()
