"""Policies decide, end to end: RAM users made with the RAM SDK, policies attached with it, and
every decision observed through the official KMS SDK on the very next request."""

from __future__ import annotations

import json

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient

from mamori.api.catalogue import STS_VERSION, Action
from mamori.api.errors import ApiError
from mamori.api.params import FlatList, FlatTags, Int, Param
from mamori.api.registry import catalogue
from tests.compat.ram_helpers import (
    RamUser,
    allow,
    deny,
    doc,
    grant,
    new_key,
    new_user,
    unique,
)
from tests.compat.sdk import b64, expect_error
from tests.conftest import ServerProcess

FORBIDDEN = ("Forbidden.NoPermission", 403)


@pytest.fixture
def user(server: ServerProcess, ram: RamClient) -> RamUser:
    """A fresh RAM user without policies."""
    return new_user(server, ram)


def refused(call: object, action: str) -> None:
    """The call is refused with Forbidden.NoPermission naming ``action``."""
    error = expect_error(*FORBIDDEN, call)  # type: ignore[arg-type]
    assert action in error.message


def key_arn(kms: Client, key_id: str) -> str:
    return str(kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.arn)


# -- system policies, Deny, conditions ------------------------------------------------------------


def test_crypto_user_access_encrypts_but_cannot_create_keys(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    refused(lambda: user.encrypt(key), "kms:Encrypt")
    ram.attach_policy_to_user(
        rm.AttachPolicyToUserRequest(
            policy_type="System", policy_name="AliyunKMSCryptoUserAccess", user_name=user.name
        )
    )
    blob = user.encrypt(key)
    plain = user.kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body.plaintext
    assert plain == b64(b"secret")
    refused(lambda: user.kms.create_key(km.CreateKeyRequest()), "kms:CreateKey")
    refused(lambda: user.kms.disable_key(km.DisableKeyRequest(key_id=key)), "kms:DisableKey")


def test_a_deny_on_one_key_beats_a_wildcard_allow(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    kept, denied = new_key(kms), new_key(kms)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:Encrypt", key_arn(kms, denied))))
    user.encrypt(kept)
    refused(lambda: user.encrypt(denied), "kms:Encrypt")
    # The Deny names Encrypt only: the same key may still be described.
    user.kms.describe_key(km.DescribeKeyRequest(key_id=denied))


def test_a_deny_reaches_a_key_named_by_its_alias(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    alias = f"alias/{unique('a')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key))
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:Encrypt", key_arn(kms, key))))
    refused(lambda: user.encrypt(alias), "kms:Encrypt")


@pytest.mark.parametrize(
    ("cidr", "admitted"), [("127.0.0.0/8", True), ("127.0.0.1", True), ("10.0.0.0/8", False)]
)
def test_a_source_ip_condition(
    kms: Client, ram: RamClient, user: RamUser, cidr: str, admitted: bool
) -> None:
    key = new_key(kms)
    condition = {"IpAddress": {"acs:SourceIp": [cidr]}}
    grant(ram, user.name, doc(allow("kms:Encrypt", Condition=condition)))
    if admitted:
        user.encrypt(key)
    else:
        refused(lambda: user.encrypt(key), "kms:Encrypt")


def test_an_encryption_context_condition(kms: Client, ram: RamClient, user: RamUser) -> None:
    key = new_key(kms)
    condition = {"StringEquals": {"kms:EncryptionContext/tenant": "blue"}}
    grant(ram, user.name, doc(allow(["kms:Encrypt", "kms:Decrypt"], Condition=condition)))
    blob = user.encrypt(key, {"tenant": "blue"})
    user.kms.decrypt(km.DecryptRequest(ciphertext_blob=blob, encryption_context={"tenant": "blue"}))
    refused(lambda: user.encrypt(key, {"tenant": "red"}), "kms:Encrypt")
    refused(lambda: user.encrypt(key), "kms:Encrypt")


def test_a_key_tag_condition(kms: Client, ram: RamClient, user: RamUser) -> None:
    tagged, untagged = new_key(kms), new_key(kms)
    kms.tag_resource(
        km.TagResourceRequest(
            key_id=tagged, tags=json.dumps([{"TagKey": "team", "TagValue": "payments"}])
        )
    )
    condition = {"StringEquals": {"kms:tag/team": "payments"}}
    grant(ram, user.name, doc(allow("kms:Encrypt", Condition=condition)))
    user.encrypt(tagged)
    refused(lambda: user.encrypt(untagged), "kms:Encrypt")


# -- attachments and versions take effect on the next request ----------------------------------


def test_a_policy_attached_to_a_group_applies_to_its_members(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    group = unique("grp")
    ram.create_group(rm.CreateGroupRequest(group_name=group))
    grant(ram, user.name, doc(allow("kms:Encrypt")), group=group)
    refused(lambda: user.encrypt(key), "kms:Encrypt")
    ram.add_user_to_group(rm.AddUserToGroupRequest(group_name=group, user_name=user.name))
    user.encrypt(key)
    ram.remove_user_from_group(rm.RemoveUserFromGroupRequest(group_name=group, user_name=user.name))
    refused(lambda: user.encrypt(key), "kms:Encrypt")


def test_a_detached_policy_stops_working_on_the_next_request(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = grant(ram, user.name, doc(allow("kms:Encrypt")))
    user.encrypt(key)
    ram.detach_policy_from_user(
        rm.DetachPolicyFromUserRequest(policy_type="Custom", policy_name=name, user_name=user.name)
    )
    refused(lambda: user.encrypt(key), "kms:Encrypt")


def test_a_new_default_version_changes_the_next_decision(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = grant(ram, user.name, doc(allow("kms:Encrypt")))
    user.encrypt(key)
    ram.create_policy_version(
        rm.CreatePolicyVersionRequest(policy_name=name, policy_document=doc(allow("kms:Decrypt")))
    )
    user.encrypt(key)  # v2 exists but v1 is still the default
    ram.set_default_policy_version(
        rm.SetDefaultPolicyVersionRequest(policy_name=name, version_id="v2")
    )
    refused(lambda: user.encrypt(key), "kms:Encrypt")
    ram.create_policy_version(
        rm.CreatePolicyVersionRequest(
            policy_name=name, policy_document=doc(allow("kms:*")), set_as_default=True
        )
    )
    user.encrypt(key)


# -- key policies -------------------------------------------------------------------------------


def test_a_key_policy_grants_a_user_without_any_identity_policy(kms: Client, user: RamUser) -> None:
    key, other = new_key(kms), new_key(kms)
    refused(lambda: user.encrypt(key), "kms:Encrypt")
    policy = doc({"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:Encrypt"})
    kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy))
    user.encrypt(key)
    refused(lambda: user.encrypt(other), "kms:Encrypt")  # the grant is the key's alone
    refused(lambda: user.kms.disable_key(km.DisableKeyRequest(key_id=key)), "kms:DisableKey")
    got = kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key, policy_name="default"))
    assert got.body.policy == policy


def test_a_key_policy_deny_beats_an_identity_allow(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    grant(ram, user.name, doc(allow("kms:*")))
    user.encrypt(key)
    policy = doc({"Effect": "Deny", "Principal": {"RAM": [user.arn]}, "Action": "kms:Encrypt"})
    kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy))
    refused(lambda: user.encrypt(key), "kms:Encrypt")
    user.kms.describe_key(km.DescribeKeyRequest(key_id=key))


def test_a_key_policy_applies_to_the_key_named_by_alias_or_arn(kms: Client, user: RamUser) -> None:
    key = new_key(kms)
    alias = f"alias/{unique('kp')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key))
    policy = doc({"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:Encrypt"})
    kms.set_key_policy(km.SetKeyPolicyRequest(key_id=alias, policy=policy))
    user.encrypt(alias)
    user.encrypt(key_arn(kms, key))


def test_get_key_policy_without_one_set_shows_the_administrator_only(kms: Client) -> None:
    key = new_key(kms)
    arn = key_arn(kms, key)
    body = json.loads(kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key)).body.policy)
    account = arn.split(":")[3]
    assert body["Statement"][0]["Principal"] == {"RAM": [f"acs:ram::{account}:root"]}


@pytest.mark.parametrize(
    "policy",
    [
        "{not json",
        doc(allow("kms:Encrypt")),  # no Principal: not a resource policy
        json.dumps({"Version": "2", "Statement": [{"Effect": "Allow", "Action": "kms:*",
                                                   "Principal": "*"}]}),
        doc({"Effect": "Allow", "Principal": "*", "Action": "kms:*",
             "Condition": {"StringEqualz": {"kms:tag/a": "b"}}}),
    ],
    ids=["json", "no-principal", "version", "operator"],
)  # fmt: skip
def test_a_malformed_key_policy_is_refused_and_changes_nothing(
    kms: Client, user: RamUser, policy: str
) -> None:
    key = new_key(kms)
    good = doc({"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:Encrypt"})
    kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=good))
    expect_error(
        "MalformedPolicyDocument",
        400,
        lambda: kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy)),
    )
    assert kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key)).body.policy == good
    user.encrypt(key)


def test_key_policy_errors(kms: Client) -> None:
    key = new_key(kms)
    policy = doc({"Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt"})
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.set_key_policy(km.SetKeyPolicyRequest(key_id="key-nope", policy=policy)),
    )
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.set_key_policy(
            km.SetKeyPolicyRequest(key_id=key, policy=policy, policy_name="other")
        ),
    )
    expect_error(
        "MissingParameter", 400, lambda: kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key))
    )
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.get_key_policy(km.GetKeyPolicyRequest(key_id="key-nope")),
    )


def test_set_key_policy_itself_is_authorized(kms: Client, ram: RamClient, user: RamUser) -> None:
    key = new_key(kms)
    policy = doc({"Effect": "Allow", "Principal": {"RAM": [user.arn]}, "Action": "kms:*"})
    refused(
        lambda: user.kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy)),
        "kms:SetKeyPolicy",
    )
    refused(lambda: user.kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key)), "kms:GetKeyPolicy")
    grant(ram, user.name, doc(allow(["kms:SetKeyPolicy", "kms:GetKeyPolicy"])))
    user.kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy))
    assert user.kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key)).body.policy == policy


# -- every action refuses a user without policies -------------------------------------------------

_CANDIDATES = (
    "x1", "v1", "Custom", "alias/x1", "key", "1", "true", "AAAA", "{}", "[]", '["x1"]',
    '[{"Key":"k","Value":"v"}]', '[{"SecretName":"x1"}]', "Active", "cn-hangzhou",
    "acs:ram::1:role/x1", "u1@x1.com",
)  # fmt: skip


def _plausible(param: Param) -> dict[str, str]:
    """Wire parameters for which ``param`` parses, found by trying likely values in turn."""
    suffix = {FlatList: ".1", FlatTags: ".1.Key"}.get(type(param), "")
    choices = [*param.choices, *([str(param.low)] if isinstance(param, Int) else [])]
    for value in (*choices, *_CANDIDATES):
        raw = {param.name + suffix: value}
        try:
            param.read(raw)
        except ApiError:
            continue
        return raw
    raise AssertionError(f"no plausible value for {param.name} ({type(param).__name__})")


def _required(action: Action) -> dict[str, str]:
    query: dict[str, str] = {}
    for param in action.params:
        if param.required:
            query.update(_plausible(param))
    action.parse(query)  # authorization must be what refuses, not a parameter
    return query


def test_every_action_refuses_a_user_without_policies(
    server: ServerProcess, ram: RamClient
) -> None:
    nobody = new_user(server, ram, "nobody")
    walked = []
    for action in catalogue().all():
        if action.version == STS_VERSION:
            continue  # AssumeRole and GetCallerIdentity are decided by trust, not RAM policies
        error = expect_error(
            *FORBIDDEN, lambda a=action: nobody.call(a.name, a.version, _required(a))
        )
        assert action.ram_action in error.message, action.name
        walked.append(action.name)
    assert {"SetKeyPolicy", "CreatePolicy", "Encrypt", "CreateUser"} <= set(walked)


# -- a refused document changes nothing -----------------------------------------------------------

_BAD_DOCUMENTS = {
    "json": ('{"Version": "1", "Statement": [', "MalformedPolicyDocument"),
    "operator": (
        doc(allow("kms:Encrypt", Condition={"IpAdress": {"acs:SourceIp": "127.0.0.1"}})),
        "MalformedPolicyDocument",
    ),
    "version": (
        json.dumps({"Version": "2012-10-17", "Statement": [allow("kms:Encrypt")]}),
        "MalformedPolicyDocument",
    ),
    "resource": (doc(allow("kms:Encrypt", "arn:aws:kms:::key/x")), "MalformedPolicyDocument"),
    "effect": (doc({**allow("kms:Encrypt"), "Effect": "allow"}), "MalformedPolicyDocument"),
    "principal": (doc(allow("kms:Encrypt", Principal="*")), "MalformedPolicyDocument"),
    # RAM documents its own code for a document beyond 6,144 characters.
    "long": (doc(allow("kms:Encrypt", Sid="x" * 6144)), "InvalidParameter.PolicyDocument.Length"),
}


@pytest.mark.parametrize("case", sorted(_BAD_DOCUMENTS))
def test_a_refused_document_changes_nothing(
    kms: Client, ram: RamClient, user: RamUser, case: str
) -> None:
    bad, code = _BAD_DOCUMENTS[case]
    key = new_key(kms)
    name = unique("keep")
    expect_error(
        code,
        400,
        lambda: ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=bad)),
    )
    expect_error(
        "EntityNotExist.Policy",
        404,
        lambda: ram.get_policy(rm.GetPolicyRequest(policy_name=name, policy_type="Custom")),
    )

    name = grant(ram, user.name, doc(allow("kms:Encrypt")))
    for as_default in (False, True):
        request = rm.CreatePolicyVersionRequest(
            policy_name=name, policy_document=bad, set_as_default=as_default
        )
        expect_error(code, 400, lambda r=request: ram.create_policy_version(r))
    versions = ram.list_policy_versions(
        rm.ListPolicyVersionsRequest(policy_name=name, policy_type="Custom")
    ).body.policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in versions] == [("v1", True)]
    user.encrypt(key)  # the default version still decides
    # The next version takes the next number: the refused ones consumed none.
    ram.create_policy_version(
        rm.CreatePolicyVersionRequest(policy_name=name, policy_document=doc(allow("kms:List*")))
    )
    got = ram.get_policy_version(
        rm.GetPolicyVersionRequest(policy_name=name, policy_type="Custom", version_id="v2")
    )
    assert got.body.policy_version.is_default_version is False


def test_resources_are_patterns_so_an_odd_acs_name_is_accepted(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    """Only "*" or an ``acs:`` prefix is required of a Resource: the rest is a wildcard pattern
    (it may name a key that does not exist yet), so a nonsensical one is accepted and simply
    matches nothing."""
    key = new_key(kms)
    grant(ram, user.name, doc(allow("kms:Encrypt", ["acs:not:really:an:arn", "acs:kms:*:*:nokey"])))
    refused(lambda: user.encrypt(key), "kms:Encrypt")


def test_create_key_with_a_policy_sets_it_and_a_bad_one_creates_nothing(kms: Client) -> None:
    document = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"RAM": ["acs:ram::1234567890123456:root"]},
                    "Action": ["kms:*"],
                    "Resource": ["*"],
                }
            ],
        }
    )
    key_id = kms.create_key(km.CreateKeyRequest(policy=document)).body.key_metadata.key_id
    stored = kms.get_key_policy(km.GetKeyPolicyRequest(key_id=key_id)).body.policy
    assert json.loads(stored) == json.loads(document)
    before = kms.list_keys(km.ListKeysRequest(page_size=1)).body.total_count
    expect_error(
        "MalformedPolicyDocument",
        400,
        lambda: kms.create_key(km.CreateKeyRequest(policy='{"Version":"1"}')),
    )
    assert kms.list_keys(km.ListKeysRequest(page_size=1)).body.total_count == before
