"""Issue 9's authorization attacks on keys, aliases, tags and secrets, replayed against a real
server by RAM users signing with the official SDK: each action must authorize every resource it
touches (an alias and its keys, each resource of a tag batch, both contexts of ReEncrypt, a
secret's encryption key), and a refusal must not name a resource the caller did not name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from mamori.api.catalogue import KMS_VERSION
from mamori.client import Client as RawClient
from mamori.client import MamoriError
from mamori.client._client import KMS, RAM
from tests.compat.ram_helpers import RamUser, allow, deny, doc, grant, new_key, new_user, unique
from tests.compat.sdk import b64, expect_error
from tests.conftest import ServerProcess

FORBIDDEN = ("Forbidden.NoPermission", 403)
REGION = "cn-hangzhou"


@pytest.fixture
def user(server: ServerProcess, ram: RamClient) -> RamUser:
    """A fresh RAM user without policies."""
    return new_user(server, ram, "authz")


def refused(call: object, action: str) -> str:
    """The call is refused with Forbidden.NoPermission naming ``action``; the message."""
    error = expect_error(*FORBIDDEN, call)  # type: ignore[arg-type]
    assert action in error.message, error.message
    return str(error.message)


def arn(kms: Client, key_id: str) -> str:
    return str(kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata.arn)


def alias_arn(kms: Client, alias: str) -> str:
    return arn(kms, new_key(kms)).rsplit(":", 1)[0] + ":" + alias


def secret_arn(kms: Client, name: str) -> str:
    return str(kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body.arn)


def points_at(kms: Client, alias: str) -> str:
    """The key id an alias points to, as the administrator sees it."""
    return str(kms.describe_key(km.DescribeKeyRequest(key_id=alias)).body.key_metadata.key_id)


def new_alias(kms: Client, key_id: str) -> str:
    alias = f"alias/{unique('a')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    return alias


# -- item 6: an alias and its keys ---------------------------------------------------------------


@pytest.fixture
def alias_user(kms: Client, ram: RamClient, user: RamUser) -> tuple[RamUser, str]:
    """The attacker of item 6: every right on its own key and on every alias; its key's id."""
    mine = new_key(kms)
    grant(ram, user.name, doc(allow("kms:*", [arn(kms, mine), alias_arn(kms, "alias/*")])))
    return user, mine


def test_update_alias_cannot_take_an_alias_away_from_a_key_without_rights_on_it(
    kms: Client, alias_user: tuple[RamUser, str]
) -> None:
    user, mine = alias_user
    prod = new_key(kms)
    alias = new_alias(kms, prod)
    request = km.UpdateAliasRequest(alias_name=alias, key_id=mine)
    refused(lambda: user.kms.update_alias(request), "kms:UpdateAlias")
    assert points_at(kms, alias) == prod


def test_update_alias_cannot_point_an_alias_at_a_key_without_rights_on_it(
    kms: Client, alias_user: tuple[RamUser, str]
) -> None:
    user, mine = alias_user
    prod = new_key(kms)
    alias = new_alias(kms, mine)
    request = km.UpdateAliasRequest(alias_name=alias, key_id=prod)
    refused(lambda: user.kms.update_alias(request), "kms:UpdateAlias")
    assert points_at(kms, alias) == mine


def test_create_alias_needs_rights_on_the_key(kms: Client, alias_user: tuple[RamUser, str]) -> None:
    user, _ = alias_user
    prod = new_key(kms)
    alias = f"alias/{unique('a')}"
    request = km.CreateAliasRequest(alias_name=alias, key_id=prod)
    refused(lambda: user.kms.create_alias(request), "kms:CreateAlias")
    expect_error("Forbidden.KeyNotFound", 404, lambda: points_at(kms, alias))


def test_delete_alias_needs_rights_on_the_key_it_points_to(
    kms: Client, alias_user: tuple[RamUser, str]
) -> None:
    user, _ = alias_user
    prod = new_key(kms)
    alias = new_alias(kms, prod)
    request = km.DeleteAliasRequest(alias_name=alias)
    refused(lambda: user.kms.delete_alias(request), "kms:DeleteAlias")
    assert points_at(kms, alias) == prod


def test_with_rights_on_the_alias_and_its_keys_every_alias_change_works(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    first, second = new_key(kms), new_key(kms)
    alias = f"alias/{unique('a')}"
    grant(
        ram,
        user.name,
        doc(
            allow(
                ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
                [arn(kms, first), arn(kms, second), alias_arn(kms, alias)],
            )
        ),
    )
    user.kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=first))
    user.kms.update_alias(km.UpdateAliasRequest(alias_name=alias, key_id=second))
    assert points_at(kms, alias) == second
    user.kms.delete_alias(km.DeleteAliasRequest(alias_name=alias))


# -- item 7: each resource of a tag batch --------------------------------------------------------


def _tag(user: RamUser, kind: str, ids: list[str], key: str, value: str) -> None:
    user.kms.tag_resources(
        km.TagResourcesRequest(
            region_id=REGION,
            resource_type=kind,
            resource_id=ids,
            tag=[km.TagResourcesRequestTag(key=key, value=value)],
        )
    )


def _tags(kms: Client, key_id: str) -> dict[str, str]:
    listed = kms.list_resource_tags(km.ListResourceTagsRequest(key_id=key_id)).body.tags.tag
    return {t.tag_key: t.tag_value for t in listed}


def test_untag_resources_cannot_remove_the_tag_a_deny_keys_on(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    guard = json.dumps([{"TagKey": "guard", "TagValue": "locked"}])
    kms.tag_resource(km.TagResourceRequest(key_id=key, tags=guard))
    locked = {"StringEquals": {"kms:tag/guard": "locked"}}
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", Condition=locked)))
    blob = kms.encrypt(km.EncryptRequest(key_id=key, plaintext=b64(b"prod"))).body.ciphertext_blob
    refused(lambda: user.kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)), "kms:Decrypt")
    untag = km.UntagResourcesRequest(
        region_id=REGION, resource_type="key", resource_id=[key], tag_key=["guard"]
    )
    refused(lambda: user.kms.untag_resources(untag), "kms:UntagResources")
    every = km.UntagResourcesRequest(
        region_id=REGION, resource_type="key", resource_id=[key], all=True
    )
    refused(lambda: user.kms.untag_resources(every), "kms:UntagResources")
    assert _tags(kms, key) == {"guard": "locked"}
    refused(lambda: user.kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)), "kms:Decrypt")


def test_tag_resources_honours_a_deny_on_one_key_of_the_batch(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    mine, theirs = new_key(kms), new_key(kms)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", arn(kms, theirs))))
    refused(lambda: _tag(user, "key", [mine, theirs], "team", "x"), "kms:TagResources")
    # Nothing of the batch was written.
    assert _tags(kms, mine) == {} and _tags(kms, theirs) == {}
    listing = km.ListTagResourcesRequest(
        region_id=REGION, resource_type="key", resource_id=[mine, theirs]
    )
    refused(lambda: user.kms.list_tag_resources(listing), "kms:ListTagResources")


def test_tag_resources_reaches_the_key_behind_an_alias_and_a_secret(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    theirs = new_key(kms)
    alias = new_alias(kms, theirs)
    secret = unique("s")
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, version_id="v1", secret_data="x"))
    grant(
        ram,
        user.name,
        doc(
            allow("kms:*"),
            deny("kms:*", [arn(kms, theirs), secret_arn(kms, secret)]),
        ),
    )
    refused(lambda: _tag(user, "key", [alias], "team", "x"), "kms:TagResources")
    refused(lambda: _tag(user, "secret", [secret], "team", "x"), "kms:TagResources")


def test_tag_resources_needs_rights_on_the_keys_only(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    mine = new_key(kms)
    actions = ["kms:TagResources", "kms:UntagResources", "kms:ListTagResources"]
    grant(ram, user.name, doc(allow(actions, arn(kms, mine))))
    _tag(user, "key", [mine], "team", "blue")
    assert _tags(kms, mine) == {"team": "blue"}
    listing = km.ListTagResourcesRequest(region_id=REGION, resource_type="key", resource_id=[mine])
    rows = user.kms.list_tag_resources(listing).body.tag_resources.tag_resource
    assert [(r.tag_key, r.tag_value) for r in rows] == [("team", "blue")]
    # Listing every tag of the account is an action on the account.
    everything = km.ListTagResourcesRequest(region_id=REGION, resource_type="key")
    refused(lambda: user.kms.list_tag_resources(everything), "kms:ListTagResources")


# -- item 8: both contexts of ReEncrypt ----------------------------------------------------------

_SECRET_TIER = {"StringEquals": {"kms:EncryptionContext/tier": "secret"}}


def test_re_encrypt_sees_the_source_context(kms: Client, ram: RamClient, user: RamUser) -> None:
    source, destination = new_key(kms), new_key(kms)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", Condition=_SECRET_TIER)))
    context = {"tier": "secret"}
    blob = kms.encrypt(
        km.EncryptRequest(key_id=source, plaintext=b64(b"payroll"), encryption_context=context)
    ).body.ciphertext_blob
    decrypt = km.DecryptRequest(ciphertext_blob=blob, encryption_context=context)
    refused(lambda: user.kms.decrypt(decrypt), "kms:Decrypt")
    moved = km.ReEncryptRequest(
        ciphertext_blob=blob, source_encryption_context=context, destination_key_id=destination
    )
    refused(lambda: user.kms.re_encrypt(moved), "kms:ReEncrypt")


def test_re_encrypt_sees_the_destination_context(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    source, destination = new_key(kms), new_key(kms)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", Condition=_SECRET_TIER)))
    blob = user.encrypt(source)
    moved = km.ReEncryptRequest(
        ciphertext_blob=blob,
        destination_key_id=destination,
        destination_encryption_context={"tier": "secret"},
    )
    refused(lambda: user.kms.re_encrypt(moved), "kms:ReEncrypt")
    fine = km.ReEncryptRequest(
        ciphertext_blob=blob,
        destination_key_id=destination,
        destination_encryption_context={"tier": "public"},
    )
    assert user.kms.re_encrypt(fine).body.key_id == destination


# -- item 10: a secret's encryption key ----------------------------------------------------------


def _secret_under(kms: Client, key: str) -> str:
    name = unique("s")
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name, version_id="v1", secret_data="hunter2", encryption_key_id=key
        )
    )
    return name


def test_a_deny_on_its_key_stops_reading_a_secret(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = _secret_under(kms, key)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:*", arn(kms, key))))
    get = km.GetSecretValueRequest(secret_name=name)
    refused(lambda: user.kms.get_secret_value(get), "kms:Decrypt")
    batch = km.BatchGetSecretValueRequest(
        secrets_list=[km.BatchGetSecretValueRequestSecretsList(secret_name=name)]
    )
    body = user.kms.batch_get_secret_value(batch).body
    assert body.secret_values == []
    assert [(e.secret_name, e.code) for e in body.errors] == [(name, FORBIDDEN[0])]


def test_a_deny_on_its_key_stops_writing_a_secret(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = _secret_under(kms, key)
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:GenerateDataKey", arn(kms, key))))
    put = km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="x")
    refused(lambda: user.kms.put_secret_value(put), "kms:GenerateDataKey")
    rotate = km.RotateSecretRequest(secret_name=name, version_id="v3")
    refused(lambda: user.kms.rotate_secret(rotate), "kms:GenerateDataKey")
    create = km.CreateSecretRequest(
        secret_name=unique("s"), version_id="v1", secret_data="x", encryption_key_id=key
    )
    refused(lambda: user.kms.create_secret(create), "kms:GenerateDataKey")
    # Reading needs kms:Decrypt, which this Deny leaves alone.
    got = user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=name)).body
    assert got.secret_data == "hunter2" and got.version_id == "v1"


def test_a_key_policy_deny_on_its_key_stops_reading_a_secret(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = _secret_under(kms, key)
    grant(ram, user.name, doc(allow("kms:*")))
    policy = doc(
        allow("kms:*", Principal={"RAM": ["*"]}),
        deny("kms:Decrypt", Principal={"RAM": [user.arn]}),
    )
    kms.set_key_policy(km.SetKeyPolicyRequest(key_id=key, policy=policy))
    get = km.GetSecretValueRequest(secret_name=name)
    refused(lambda: user.kms.get_secret_value(get), "kms:Decrypt")


def test_secret_rights_alone_still_read_and_write_a_secret_under_a_customer_key(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    key = new_key(kms)
    name = _secret_under(kms, key)
    grant(ram, user.name, doc(allow(["kms:GetSecretValue", "kms:PutSecretValue"], "*")))
    put = km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="new")
    user.kms.put_secret_value(put)
    got = user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=name)).body
    assert got.secret_data == "new"


# -- item 11c: a refusal names only what the caller named ----------------------------------------


def test_a_refusal_does_not_name_the_key_behind_an_alias_or_a_blob(
    kms: Client, user: RamUser
) -> None:
    prod = new_key(kms)
    alias = new_alias(kms, prod)
    blob = kms.encrypt(km.EncryptRequest(key_id=prod, plaintext=b64(b"x"))).body.ciphertext_blob
    messages = [
        refused(lambda: user.encrypt(alias), "kms:Encrypt"),
        refused(lambda: user.kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)), "kms:Decrypt"),
        refused(
            lambda: user.kms.describe_key(km.DescribeKeyRequest(key_id=alias)), "kms:DescribeKey"
        ),
        expect_error(
            "AccessDeniedError",
            400,
            lambda: user.kms.encrypt(
                km.EncryptRequest(key_id=alias, plaintext=b64(b"x"), dry_run="true")
            ),
        ).message,
    ]
    for message in messages:
        assert prod not in message, message


# -- a name is matched whole: no trailing newline -----------------------------------------------


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Iterator[RawClient]:
    """Signed HTTP with the administrator's AccessKey: any parameter, any value."""
    with RawClient(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        yield client


def test_an_alias_name_ending_in_a_newline_is_refused(kms: Client, raw: RawClient) -> None:
    # "$" matched before a trailing "\n": "alias/prod\n" → A was created beside "alias/prod" → B,
    # listed as itself but resolved (KeyId values are stripped) and authorized as B.
    first, second = new_key(kms), new_key(kms)
    alias = f"alias/{unique('nl')}"
    raw.call("CreateAlias", AliasName=alias, KeyId=second)
    for action in ("CreateAlias", "UpdateAlias"):
        with pytest.raises(MamoriError) as info:
            raw.call(action, AliasName=alias + "\n", KeyId=first)
        assert (info.value.code, info.value.status) == ("InvalidParameter", 400)
        assert "AliasName" in info.value.message
    listed = raw.call("ListAliasesByKeyId", KeyId=first)["Aliases"]["Alias"]
    assert listed == []
    assert points_at(kms, alias) == second


def test_a_rotation_interval_in_other_digits_is_refused(raw: RawClient) -> None:
    # "\d" matched any Unicode digit: "٣٠d" was read as 30 days.
    for interval in ("٣٠d", "30d\n", "３０d"):
        with pytest.raises(MamoriError) as info:
            raw.call("CreateKey", EnableAutomaticRotation="true", RotationInterval=interval)
        assert (info.value.code, info.value.status) == ("InvalidParameter", 400), interval
        assert "RotationInterval" in info.value.message


NEWLINE_NAMES = [
    # (action, version, parameters, the parameter holding the name): every name validator.
    ("CreateSecret", KMS, {"SecretData": "x", "VersionId": "v1"}, "SecretName"),
    ("PutSecretValue", KMS, {"SecretName": "{secret}", "SecretData": "x"}, "VersionId"),
    ("CreateUser", RAM, {}, "UserName"),
    ("CreateGroup", RAM, {}, "GroupName"),
    ("CreateRole", RAM, {"AssumeRolePolicyDocument": "{trust}"}, "RoleName"),
    ("CreatePolicy", RAM, {"PolicyDocument": "{policy}"}, "PolicyName"),
]


@pytest.mark.parametrize(("action", "version", "params", "name"), NEWLINE_NAMES)
def test_no_name_validator_accepts_a_trailing_newline(
    kms: Client, raw: RawClient, action: str, version: str, params: dict[str, str], name: str
) -> None:
    secret = unique("nl")
    kms.create_secret(km.CreateSecretRequest(secret_name=secret, secret_data="x", version_id="v1"))
    fill = {
        "{secret}": secret,
        "{trust}": json.dumps(
            {
                "Version": "1",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}}
                ],
            }
        ),
        "{policy}": doc(allow()),
    }
    query = {k: fill.get(v, v) for k, v in params.items()} | {name: unique("n") + "\n"}
    with pytest.raises(MamoriError) as info:
        raw.call(action, version, **query)
    assert info.value.status == 400, info.value.code
    assert info.value.code.startswith("InvalidParameter"), info.value.code
    assert name in info.value.message or name in info.value.code


# -- listings show tags and metadata only of resources the caller may read ------------------------


@pytest.fixture
def denied_listing(
    kms: Client, ram: RamClient, raw: RawClient, user: RamUser
) -> tuple[RamUser, dict[str, str], str]:
    """A user allowed kms:* on everything but denied secret sb and key B; A, B, sa and sb carry
    the same fresh tag and sa and sb the same description. ({name: id}, the tag key.)"""
    marker = unique("mark")
    ids = {"A": new_key(kms), "B": new_key(kms), "sa": unique("sa"), "sb": unique("sb")}
    for secret in ("sa", "sb"):
        raw.call(
            "CreateSecret",
            SecretName=ids[secret],
            SecretData="x",
            VersionId="v1",
            Description=f"{marker} description",
        )
    for kind, names in (("key", ["A", "B"]), ("secret", ["sa", "sb"])):
        raw.call(
            "TagResources",
            RegionId=REGION,
            ResourceType=kind,
            **{f"ResourceId.{i}": ids[n] for i, n in enumerate(names, 1)},
            **{"Tag.1.Key": marker, "Tag.1.Value": "v"},
        )
    grant(
        ram,
        user.name,
        doc(allow(), deny("kms:*", [arn(kms, ids["B"]), secret_arn(kms, ids["sb"])])),
    )
    return user, ids, marker


def _pages(user: RamUser, action: str, query: dict[str, str], rows: str) -> list[Any]:
    """Every row of a listing, following NextToken or PageNumber."""
    found: list[Any] = []
    token = ""
    for number in range(1, 1000):
        page = {**query, "PageNumber": str(number), "PageSize": "100"}
        if action == "ListTagResources":
            page = {**query, **({"NextToken": token} if number > 1 else {})}
        body = user.call(action, KMS, page)["body"]
        outer, inner = rows.split(".")
        found += body.get(outer, {}).get(inner, [])
        token = body.get("NextToken", "")
        if action == "ListTagResources" and not token:
            return found
        if action != "ListTagResources" and number * 100 >= int(body.get("TotalCount", 0)):
            return found
    raise AssertionError("endless listing")


def test_list_tag_resources_shows_no_tags_of_a_denied_resource(
    denied_listing: tuple[RamUser, dict[str, str], str],
) -> None:
    user, ids, marker = denied_listing
    for kind, allowed in (("secret", "sa"), ("key", "A")):
        query = {"RegionId": REGION, "ResourceType": kind}
        rows = _pages(user, "ListTagResources", query, "TagResources.TagResource")
        tagged = {r["ResourceId"] for r in rows if r["TagKey"] == marker}
        assert tagged == {ids[allowed]}, (kind, tagged)
        filtered = {**query, "Tag.1.Key": marker}
        rows = _pages(user, "ListTagResources", filtered, "TagResources.TagResource")
        assert {r["ResourceId"] for r in rows} == {ids[allowed]}


def test_list_secrets_and_list_keys_reveal_no_tags_or_descriptions_of_denied_resources(
    denied_listing: tuple[RamUser, dict[str, str], str],
) -> None:
    user, ids, marker = denied_listing
    by_tag = json.dumps([{"Key": "TagKey", "Values": [marker]}])
    by_description = json.dumps([{"Key": "Description", "Values": [marker]}])
    for filters in (by_tag, by_description):
        rows = _pages(user, "ListSecrets", {"Filters": filters}, "SecretList.Secret")
        assert {r["SecretName"] for r in rows} == {ids["sa"]}, filters
    rows = _pages(user, "ListSecrets", {"FetchTags": "true"}, "SecretList.Secret")
    tags = {
        r["SecretName"]: r.get("Tags") for r in rows if r["SecretName"] in (ids["sa"], ids["sb"])
    }
    assert tags[ids["sa"]] == {"Tag": [{"TagKey": marker, "TagValue": "v"}]}
    assert tags[ids["sb"]] is None  # its name is listed, as ids are account-wide; not its tags
    rows = _pages(user, "ListKeys", {"Filters": by_tag}, "Keys.Key")
    assert {r["KeyId"] for r in rows} == {ids["A"]}
    listed = {r["KeyId"] for r in _pages(user, "ListKeys", {}, "Keys.Key")}
    assert {ids["A"], ids["B"]} <= listed  # ids stay listed account-wide, as on AWS and Alibaba


# -- tags given at creation: the rights of TagResource too ----------------------------------------
# A policy may key on kms:tag/… (ABAC). Were CreateKey's and CreateSecret's Tags free, a user
# allowed only to create could mint a resource carrying the very tag that unlocks it elsewhere.
# As AWS KMS does, creating with tags needs kms:TagResource as well.

_GUARD = json.dumps([{"TagKey": "team", "TagValue": "payments"}])


def test_create_key_with_tags_needs_tag_resource(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    grant(ram, user.name, doc(allow("kms:CreateKey")))
    refused(lambda: user.kms.create_key(km.CreateKeyRequest(tags=_GUARD)), "kms:TagResource")
    # Without tags the same user creates keys as before.
    assert user.kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    grant(ram, user.name, doc(allow("kms:TagResource", "acs:kms:*:*:key/*")))
    made = user.kms.create_key(km.CreateKeyRequest(tags=_GUARD)).body.key_metadata.key_id
    assert _tags(kms, made) == {"team": "payments"}


def test_create_secret_with_tags_needs_tag_resource_on_that_secret(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    name = unique("tagged")
    grant(ram, user.name, doc(allow(["kms:CreateSecret", "kms:DescribeSecret"])))

    def create(secret: str) -> object:
        request = km.CreateSecretRequest(
            secret_name=secret, version_id="v1", secret_data="x", tags=_GUARD
        )
        return user.kms.create_secret(request)

    refused(lambda: create(name), "kms:TagResource")
    # Nothing was made by the refused call.
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.describe_secret(km.DescribeSecretRequest(secret_name=name)),
    )
    grant(ram, user.name, doc(allow("kms:TagResource", f"acs:kms:*:*:secret/{name}")))
    create(name)
    other = unique("tagged")
    refused(lambda: create(other), "kms:TagResource")


def test_create_key_with_flattened_tags_needs_tag_resource(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    # The same Tags as the old SDK generations flatten them into the query (Tags.1.TagKey=…):
    # folded into one Tags parameter before authorization, so refused just the same.
    grant(ram, user.name, doc(allow("kms:CreateKey")))
    flat = {"Tags.1.TagKey": "team", "Tags.1.TagValue": "payments"}
    refused(lambda: user.call("CreateKey", KMS_VERSION, flat), "kms:TagResource")
