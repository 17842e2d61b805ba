"""Tags on secrets through the official new SDK: TagResource/UntagResource with SecretName, the
batch actions with ResourceType=secret, and ``kms:tag/…`` conditions on a secret."""

from __future__ import annotations

import json
import uuid

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.ram_helpers import RamUser, allow, doc, grant, new_user
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess

REGION = "cn-hangzhou"
NOT_FOUND = ("Forbidden.ResourceNotFound", 404)


def unique() -> str:
    return f"st-{uuid.uuid4().hex[:12]}"


def new_secret(kms: Client, name: str | None = None) -> str:
    name = name or unique()
    kms.create_secret(km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x"))
    return name


def tags_json(pairs: dict[str, str]) -> str:
    return json.dumps([{"TagKey": k, "TagValue": v} for k, v in pairs.items()])


def tags_of(kms: Client, name: str) -> dict[str, str]:
    body = kms.describe_secret(km.DescribeSecretRequest(secret_name=name, fetch_tags="true")).body
    return {t.tag_key: t.tag_value for t in (body.tags.tag or [])} if body.tags else {}


def listed(kms: Client, ids: list[str] | None = None) -> list[tuple[str, str, str, str]]:
    body = kms.list_tag_resources(
        km.ListTagResourcesRequest(region_id=REGION, resource_type="secret", resource_id=ids)
    ).body
    rows = body.tag_resources.tag_resource or [] if body.tag_resources else []
    return [(r.resource_id, r.resource_type, r.tag_key, r.tag_value) for r in rows]


def test_tag_and_untag_one_secret(kms: Client) -> None:
    name = new_secret(kms)
    kms.tag_resource(
        km.TagResourceRequest(secret_name=name, tags=tags_json({"team": "blue", "env": "prod"}))
    )
    assert tags_of(kms, name) == {"team": "blue", "env": "prod"}
    kms.tag_resource(km.TagResourceRequest(secret_name=name, tags=tags_json({"team": "red"})))
    assert tags_of(kms, name) == {"team": "red", "env": "prod"}
    kms.untag_resource(km.UntagResourceRequest(secret_name=name, tag_keys=json.dumps(["env"])))
    assert tags_of(kms, name) == {"team": "red"}
    assert listed(kms, [name]) == [(name, "secret", "team", "red")]


def test_a_secret_in_its_delete_window_can_still_be_tagged(kms: Client) -> None:
    name = new_secret(kms)
    kms.delete_secret(km.DeleteSecretRequest(secret_name=name))
    kms.tag_resource(km.TagResourceRequest(secret_name=name, tags=tags_json({"a": "b"})))
    assert tags_of(kms, name) == {"a": "b"}


def test_unknown_secret_and_bad_requests(kms: Client) -> None:
    missing = unique()
    expect_error(
        *NOT_FOUND,
        lambda: kms.tag_resource(
            km.TagResourceRequest(secret_name=missing, tags=tags_json({"a": "b"}))
        ),
    )
    expect_error(
        *NOT_FOUND,
        lambda: kms.untag_resource(
            km.UntagResourceRequest(secret_name=missing, tag_keys=json.dumps(["a"]))
        ),
    )
    name = new_secret(kms)
    too_many = {f"k{i}": "v" for i in range(21)}
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.tag_resource(km.TagResourceRequest(secret_name=name, tags=tags_json(too_many))),
    )
    assert tags_of(kms, name) == {}


def test_batch_tagging_of_secrets_and_listing(kms: Client) -> None:
    first, second = new_secret(kms), new_secret(kms, unique() + "/nested")
    prefix = f"p{uuid.uuid4().hex[:8]}-"
    kms.tag_resources(
        km.TagResourcesRequest(
            region_id=REGION,
            resource_type="secret",
            resource_id=[first, second],
            tag=[km.TagResourcesRequestTag(key=prefix + "team", value="blue")],
        )
    )
    assert tags_of(kms, first) == tags_of(kms, second) == {prefix + "team": "blue"}
    # Rows come sorted by resource id, whichever order they were named in.
    assert listed(kms, [second, first]) == sorted(
        [(first, "secret", prefix + "team", "blue"), (second, "secret", prefix + "team", "blue")]
    )
    # Without ResourceId: every secret of the account, filtered by tag.
    body = kms.list_tag_resources(
        km.ListTagResourcesRequest(
            region_id=REGION,
            resource_type="secret",
            tag=[km.ListTagResourcesRequestTag(key=prefix + "team")],
        )
    ).body
    assert {r.resource_id for r in body.tag_resources.tag_resource} == {first, second}
    kms.untag_resources(
        km.UntagResourcesRequest(
            region_id=REGION, resource_type="secret", resource_id=[first], all=True
        )
    )
    assert tags_of(kms, first) == {} and tags_of(kms, second) == {prefix + "team": "blue"}


def test_a_batch_naming_an_unknown_secret_changes_nothing(kms: Client) -> None:
    name = new_secret(kms)
    expect_error(
        *NOT_FOUND,
        lambda: kms.tag_resources(
            km.TagResourcesRequest(
                region_id=REGION,
                resource_type="secret",
                resource_id=[name, unique()],
                tag=[km.TagResourcesRequestTag(key="a", value="b")],
            )
        ),
    )
    assert tags_of(kms, name) == {}
    expect_error(*NOT_FOUND, lambda: listed(kms, [unique()]))


def test_secret_tags_are_not_key_tags(kms: Client) -> None:
    name = new_secret(kms)
    kms.tag_resource(km.TagResourceRequest(secret_name=name, tags=tags_json({"a": "b"})))
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.list_resource_tags(km.ListResourceTagsRequest(key_id=name)),
    )


def test_force_deletion_drops_the_tags(kms: Client) -> None:
    name = new_secret(kms)
    kms.tag_resource(km.TagResourceRequest(secret_name=name, tags=tags_json({"a": "b"})))
    kms.delete_secret(
        km.DeleteSecretRequest(secret_name=name, force_delete_without_recovery="true")
    )
    new_secret(kms, name)
    assert tags_of(kms, name) == {}


@pytest.fixture
def user(server: ServerProcess, ram: RamClient) -> RamUser:
    """A fresh RAM user without policies."""
    return new_user(server, ram)


def test_tag_conditions_apply_to_secrets(kms: Client, ram: RamClient, user: RamUser) -> None:
    tagged, untagged = new_secret(kms), new_secret(kms)
    kms.tag_resource(km.TagResourceRequest(secret_name=tagged, tags=tags_json({"team": "pay"})))
    condition = {"StringEquals": {"kms:tag/team": "pay"}}
    grant(ram, user.name, doc(allow("kms:GetSecretValue", Condition=condition)))
    value = user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=tagged)).body
    assert value.secret_data == "x"
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.kms.get_secret_value(km.GetSecretValueRequest(secret_name=untagged)),
    )


def test_tagging_a_secret_is_authorized_on_its_arn(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    mine, other = new_secret(kms), new_secret(kms)
    grant(ram, user.name, doc(allow("kms:TagResource", resource=f"acs:kms:*:*:secret/{mine}")))
    user.kms.tag_resource(km.TagResourceRequest(secret_name=mine, tags=tags_json({"a": "b"})))
    expect_error(
        "Forbidden.NoPermission",
        403,
        lambda: user.kms.tag_resource(
            km.TagResourceRequest(secret_name=other, tags=tags_json({"a": "b"}))
        ),
    )
    assert tags_of(kms, mine) == {"a": "b"} and tags_of(kms, other) == {}
