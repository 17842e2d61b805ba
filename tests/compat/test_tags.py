"""Tags through the official new SDK: TagResource / UntagResource / ListResourceTags on one key,
and the batch TagResources / UntagResources / ListTagResources with NextToken paging."""

from __future__ import annotations

import json
import uuid

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.sdk import expect_error

REGION = "cn-hangzhou"
UNKNOWN = "key-doesnotexist0000000000"


def new_key(kms: Client) -> str:
    return str(kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id)


def prefix() -> str:
    """A tag-key prefix of this test alone: the server (and its account) is shared."""
    return f"t{uuid.uuid4().hex[:10]}-"


def tags_json(pairs: dict[str, str]) -> str:
    return json.dumps([{"TagKey": k, "TagValue": v} for k, v in pairs.items()])


def tag(kms: Client, key: str, pairs: dict[str, str]) -> None:
    kms.tag_resource(km.TagResourceRequest(key_id=key, tags=tags_json(pairs)))


def tags_of(kms: Client, key: str, key_id: str | None = None) -> dict[str, str]:
    """Tags of ``key`` (any name); every row carries the real ``key_id`` (default: ``key``)."""
    body = kms.list_resource_tags(km.ListResourceTagsRequest(key_id=key)).body
    rows = body.tags.tag or [] if body.tags else []
    assert all(row.key_id == (key_id or key) for row in rows)
    return {row.tag_key: row.tag_value for row in rows}


def batch_tag(kms: Client, ids: list[str], pairs: dict[str, str]) -> None:
    kms.tag_resources(
        km.TagResourcesRequest(
            region_id=REGION,
            resource_type="key",
            resource_id=ids,
            tag=[km.TagResourcesRequestTag(key=k, value=v) for k, v in pairs.items()],
        )
    )


def list_tag_resources(
    kms: Client,
    ids: list[str] | None = None,
    pairs: dict[str, str | None] | None = None,
    token: str | None = None,
) -> km.ListTagResourcesResponseBody:
    return kms.list_tag_resources(
        km.ListTagResourcesRequest(
            region_id=REGION,
            resource_type="key",
            resource_id=ids,
            tag=[km.ListTagResourcesRequestTag(key=k, value=v) for k, v in (pairs or {}).items()]
            or None,
            next_token=token,
        )
    ).body


def rows_of(body: km.ListTagResourcesResponseBody) -> set[tuple[str, str, str]]:
    found = body.tag_resources.tag_resource or [] if body.tag_resources else []
    assert all(row.resource_type == "key" for row in found)
    return {(row.resource_id, row.tag_key, row.tag_value) for row in found}


# --- One resource ------------------------------------------------------------------------------


def test_tag_list_and_untag_one_key(kms: Client) -> None:
    key = new_key(kms)
    assert tags_of(kms, key) == {}
    p = prefix()
    tag(kms, key, {f"{p}env": "prod", f"{p}team": "crypto ✓", f"{p}empty": ""})
    assert tags_of(kms, key) == {f"{p}env": "prod", f"{p}team": "crypto ✓", f"{p}empty": ""}
    tag(kms, key, {f"{p}env": "staging"})  # overwrite one value, keep the others
    assert tags_of(kms, key)[f"{p}env"] == "staging"
    assert len(tags_of(kms, key)) == 3
    kms.untag_resource(
        km.UntagResourceRequest(key_id=key, tag_keys=json.dumps([f"{p}env", f"{p}absent"]))
    )
    assert tags_of(kms, key) == {f"{p}team": "crypto ✓", f"{p}empty": ""}


def test_one_key_named_by_alias_and_arn(kms: Client) -> None:
    key = new_key(kms)
    alias = f"alias/tags-{uuid.uuid4().hex[:12]}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key))
    arn = kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata.arn
    tag(kms, alias, {"by": "alias"})
    tag(kms, arn, {"via": "arn"})
    assert tags_of(kms, alias, key) == {"by": "alias", "via": "arn"}
    assert tags_of(kms, key) == {"by": "alias", "via": "arn"}
    kms.untag_resource(km.UntagResourceRequest(key_id=alias, tag_keys='["by"]'))
    assert tags_of(kms, arn, key) == {"via": "arn"}


def test_twenty_tags_is_the_limit(kms: Client) -> None:
    key = new_key(kms)
    twenty = {f"k{i:02d}": f"v{i}" for i in range(20)}
    tag(kms, key, twenty)
    assert tags_of(kms, key) == twenty
    twenty_one = {f"n{i:02d}": "v" for i in range(21)}
    other = new_key(kms)
    exc = expect_error("InvalidParameter", 400, lambda: tag(kms, other, twenty_one))
    assert "Tags" in exc.message
    assert tags_of(kms, other) == {}
    # A twenty-first tag on a full key is a quota error, and changes nothing.
    expect_error("Rejected.LimitExceeded", 400, lambda: tag(kms, key, {"one-more": "v"}))
    assert tags_of(kms, key) == twenty
    tag(kms, key, {"k00": "replaced"})  # overwriting stays within the limit
    assert tags_of(kms, key)["k00"] == "replaced"


@pytest.mark.parametrize("reserved", ["aliyun", "aliyun-env", "acs:env", "acs:"])
def test_reserved_tag_keys(kms: Client, reserved: str) -> None:
    key = new_key(kms)
    exc = expect_error("InvalidParameter", 400, lambda: tag(kms, key, {"fine": "1", reserved: "v"}))
    assert "Tags" in exc.message
    expect_error(
        "InvalidParameter", 400, lambda: batch_tag(kms, [key], {"fine": "1", reserved: "v"})
    )
    assert tags_of(kms, key) == {}


def test_tag_lengths(kms: Client) -> None:
    key = new_key(kms)
    tag(kms, key, {"k" * 128: "v" * 128})
    assert tags_of(kms, key) == {"k" * 128: "v" * 128}
    expect_error("InvalidParameter", 400, lambda: tag(kms, key, {"k" * 129: "v"}))
    expect_error("InvalidParameter", 400, lambda: tag(kms, key, {"k": "v" * 129}))
    expect_error("InvalidParameter", 400, lambda: tag(kms, key, {"": "v"}))
    expect_error("InvalidParameter", 400, lambda: batch_tag(kms, [key], {"k" * 129: "v"}))
    assert tags_of(kms, key) == {"k" * 128: "v" * 128}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"TagKey":"k","TagValue":"v"}',
        '[{"TagKey":"k","TagValue":"v"}',
        "[1]",
        '["k"]',
        '[{"TagKey":1,"TagValue":"v"}]',
        '[{"TagKey":"k","TagValue":2}]',
        '[{"TagValue":"v"}]',
        '[{"TagKey":"a\\u0000b","TagValue":"v"}]',
        '[{"TagKey":"k","TagValue":"a\\u0000b"}]',
        "[" * 3000,
    ],
)
def test_malformed_tags(kms: Client, raw: str) -> None:
    key = new_key(kms)
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.tag_resource(km.TagResourceRequest(key_id=key, tags=raw)),
    )
    assert "Tags" in exc.message
    assert tags_of(kms, key) == {}


@pytest.mark.parametrize(
    "raw", ["not json", '"k"', "[1]", '{"k":"v"}', '["a",null]', '["k\\u0000"]', "[" * 3000]
)
def test_malformed_tag_keys(kms: Client, raw: str) -> None:
    key = new_key(kms)
    tag(kms, key, {"k": "v"})
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.untag_resource(km.UntagResourceRequest(key_id=key, tag_keys=raw)),
    )
    assert "TagKeys" in exc.message
    assert tags_of(kms, key) == {"k": "v"}


def test_one_resource_must_be_named_exactly_once(kms: Client) -> None:
    key = new_key(kms)
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.tag_resource(
            km.TagResourceRequest(key_id=key, secret_name="some-secret", tags=tags_json({"a": "b"}))
        ),
    )
    expect_error(
        "InvalidParameter",
        400,
        lambda: kms.untag_resource(
            km.UntagResourceRequest(key_id=key, certificate_id="cert-1", tag_keys='["a"]')
        ),
    )
    assert tags_of(kms, key) == {}


def test_missing_parameters_of_one_resource(kms: Client) -> None:
    key = new_key(kms)
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.tag_resource(km.TagResourceRequest(key_id=key))
    )
    assert "Tags" in exc.message
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.untag_resource(km.UntagResourceRequest(key_id=key))
    )
    assert "TagKeys" in exc.message
    exc = expect_error(
        "MissingParameter", 400, lambda: kms.list_resource_tags(km.ListResourceTagsRequest())
    )
    assert "KeyId" in exc.message


@pytest.mark.parametrize("name", [UNKNOWN, "alias/no-such-alias-for-tags"])
def test_unknown_key_for_one_resource(kms: Client, name: str) -> None:
    expect_error("Forbidden.KeyNotFound", 404, lambda: tag(kms, name, {"a": "b"}))
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.untag_resource(km.UntagResourceRequest(key_id=name, tag_keys='["a"]')),
    )
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.list_resource_tags(km.ListResourceTagsRequest(key_id=name)),
    )


# --- Batches -----------------------------------------------------------------------------------


def test_batch_tag_list_and_untag(kms: Client) -> None:
    a, b, bystander = new_key(kms), new_key(kms), new_key(kms)
    p = prefix()
    batch_tag(kms, [a, b], {f"{p}env": "prod", f"{p}owner": "team a"})
    batch_tag(kms, [bystander], {f"{p}env": "dev"})
    assert tags_of(kms, a) == {f"{p}env": "prod", f"{p}owner": "team a"}

    by_id = rows_of(list_tag_resources(kms, ids=[a, b]))
    assert by_id == {
        (a, f"{p}env", "prod"),
        (a, f"{p}owner", "team a"),
        (b, f"{p}env", "prod"),
        (b, f"{p}owner", "team a"),
    }
    # By tag alone: every key carrying it; a value narrows the match.
    assert rows_of(list_tag_resources(kms, pairs={f"{p}env": None})) == {
        (a, f"{p}env", "prod"),
        (b, f"{p}env", "prod"),
        (bystander, f"{p}env", "dev"),
    }
    assert rows_of(list_tag_resources(kms, pairs={f"{p}env": "dev"})) == {
        (bystander, f"{p}env", "dev")
    }
    assert rows_of(list_tag_resources(kms, ids=[a, bystander], pairs={f"{p}owner": None})) == {
        (a, f"{p}owner", "team a")
    }

    kms.untag_resources(
        km.UntagResourcesRequest(
            region_id=REGION, resource_type="key", resource_id=[a, b], tag_key=[f"{p}env"]
        )
    )
    assert tags_of(kms, a) == {f"{p}owner": "team a"}
    assert tags_of(kms, b) == {f"{p}owner": "team a"}
    assert tags_of(kms, bystander) == {f"{p}env": "dev"}


def test_batch_by_alias_lists_the_real_key_id(kms: Client) -> None:
    key = new_key(kms)
    alias = f"alias/batch-{uuid.uuid4().hex[:12]}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key))
    batch_tag(kms, [alias], {"via": "alias"})
    assert rows_of(list_tag_resources(kms, ids=[alias])) == {(key, "via", "alias")}


def test_untag_resources_all(kms: Client) -> None:
    a, b, keep = new_key(kms), new_key(kms), new_key(kms)
    batch_tag(kms, [a, b, keep], {"x": "1", "y": "2"})
    kms.untag_resources(
        km.UntagResourcesRequest(
            region_id=REGION, resource_type="key", resource_id=[a, b], all=True
        )
    )
    assert tags_of(kms, a) == {}
    assert tags_of(kms, b) == {}
    assert tags_of(kms, keep) == {"x": "1", "y": "2"}
    assert rows_of(list_tag_resources(kms, ids=[a, b])) == set()


def test_untag_resources_needs_tag_keys_or_all(kms: Client) -> None:
    key = new_key(kms)
    batch_tag(kms, [key], {"x": "1"})
    for all_ in (None, False):
        expect_error(
            "MissingParameter",
            400,
            lambda all_=all_: kms.untag_resources(
                km.UntagResourcesRequest(
                    region_id=REGION, resource_type="key", resource_id=[key], all=all_
                )
            ),
        )
    assert tags_of(kms, key) == {"x": "1"}


def test_list_tag_resources_pages_by_next_token(kms: Client) -> None:
    keys = [new_key(kms) for _ in range(3)]
    p = prefix()
    batch_tag(kms, keys, {f"{p}{i:02d}": f"v{i}" for i in range(20)})  # 60 rows
    expected = {(k, f"{p}{i:02d}", f"v{i}") for k in keys for i in range(20)}

    first = list_tag_resources(kms, ids=keys)
    assert len(first.tag_resources.tag_resource) == 50
    assert first.next_token
    second = list_tag_resources(kms, ids=keys, token=first.next_token)
    assert len(second.tag_resources.tag_resource) == 10
    assert not second.next_token
    assert rows_of(first) | rows_of(second) == expected
    assert not rows_of(first) & rows_of(second)

    # The same paging when the tag (not the ids) selects the rows.
    by_tag = list_tag_resources(kms, pairs={f"{p}00": None})
    assert rows_of(by_tag) == {(k, f"{p}00", "v0") for k in keys}
    assert not by_tag.next_token

    expect_error(
        "InvalidParameter", 400, lambda: list_tag_resources(kms, ids=keys, token="not-a-token")
    )


def test_batch_with_one_unknown_key_changes_nothing(kms: Client) -> None:
    good = new_key(kms)
    batch_tag(kms, [good], {"before": "1"})
    expect_error(
        "Forbidden.KeyNotFound", 404, lambda: batch_tag(kms, [good, UNKNOWN], {"after": "2"})
    )
    expect_error(
        "Forbidden.KeyNotFound", 404, lambda: batch_tag(kms, [UNKNOWN, good], {"after": "2"})
    )
    assert tags_of(kms, good) == {"before": "1"}
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.untag_resources(
            km.UntagResourcesRequest(
                region_id=REGION, resource_type="key", resource_id=[good, UNKNOWN], all=True
            )
        ),
    )
    assert tags_of(kms, good) == {"before": "1"}
    expect_error("Forbidden.KeyNotFound", 404, lambda: list_tag_resources(kms, ids=[good, UNKNOWN]))


def test_batch_over_the_limit_on_one_key_changes_nothing(kms: Client) -> None:
    roomy, full = new_key(kms), new_key(kms)
    batch_tag(kms, [full], {f"f{i:02d}": "v" for i in range(19)})
    expect_error(
        "Rejected.LimitExceeded",
        400,
        lambda: batch_tag(kms, [roomy, full], {"new-1": "a", "new-2": "b"}),
    )
    assert tags_of(kms, roomy) == {}
    assert len(tags_of(kms, full)) == 19


def test_batch_more_than_twenty_tags(kms: Client) -> None:
    key = new_key(kms)
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: batch_tag(kms, [key], {f"k{i:02d}": "v" for i in range(21)}),
    )
    assert "Tag" in exc.message
    assert tags_of(kms, key) == {}


def test_batch_parameter_errors(kms: Client) -> None:
    key = new_key(kms)
    tag_one = [km.TagResourcesRequestTag(key="a", value="b")]
    cases: list[tuple[km.TagResourcesRequest, str, str]] = [
        (
            km.TagResourcesRequest(resource_type="key", resource_id=[key], tag=tag_one),
            "MissingParameter",
            "RegionId",
        ),
        (
            km.TagResourcesRequest(region_id=REGION, resource_id=[key], tag=tag_one),
            "MissingParameter",
            "ResourceType",
        ),
        (
            km.TagResourcesRequest(region_id=REGION, resource_type="key", tag=tag_one),
            "MissingParameter",
            "ResourceId",
        ),
        (
            km.TagResourcesRequest(region_id=REGION, resource_type="key", resource_id=[key]),
            "MissingParameter",
            "Tag",
        ),
        (
            km.TagResourcesRequest(
                region_id=REGION, resource_type="bucket", resource_id=[key], tag=tag_one
            ),
            "InvalidParameter",
            "ResourceType",
        ),
    ]
    for request, code, name in cases:
        exc = expect_error(code, 400, lambda request=request: kms.tag_resources(request))
        assert name in exc.message
    assert tags_of(kms, key) == {}
