"""Aliases through the official new SDK: CreateAlias, UpdateAlias, DeleteAlias, ListAliases and
ListAliasesByKeyId (spec/kms-api.md §7.1, §7.2, §7.8)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.sdk import expect_error

REGION = "cn-hangzhou"


def new_alias(prefix: str = "a") -> str:
    """An alias name no other test uses."""
    return f"alias/{prefix}-{uuid.uuid4().hex[:12]}"


def new_key(kms: Client) -> km.CreateKeyResponseBodyKeyMetadata:
    """A fresh default key."""
    return kms.create_key(km.CreateKeyRequest()).body.key_metadata


def account_of(meta: Any) -> str:
    """The account id in a key ARN."""
    return str(meta.arn.split(":")[3])


def key_of(kms: Client, ref: str) -> str:
    """The key id DescribeKey resolves ``ref`` to."""
    return str(kms.describe_key(km.DescribeKeyRequest(key_id=ref)).body.key_metadata.key_id)


def aliases_of(kms: Client, key_id: str) -> list[str]:
    """Alias names of a key (one page of 100)."""
    body = kms.list_aliases_by_key_id(
        km.ListAliasesByKeyIdRequest(key_id=key_id, page_size=100)
    ).body
    return [a.alias_name for a in body.aliases.alias]


def encrypting_key(kms: Client, ref: str) -> str:
    """The key id Encrypt reports when given ``ref``."""
    return str(
        kms.encrypt(
            km.EncryptRequest(key_id=ref, plaintext=base64.b64encode(b"x").decode())
        ).body.key_id
    )


def test_create_alias_and_use_it(kms: Client) -> None:
    meta = new_key(kms)
    alias = new_alias()
    resp = kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    assert resp.status_code == 200
    assert resp.body.request_id
    assert key_of(kms, alias) == meta.key_id
    assert encrypting_key(kms, alias) == meta.key_id
    body = kms.list_aliases_by_key_id(km.ListAliasesByKeyIdRequest(key_id=meta.key_id)).body
    assert (body.total_count, body.page_number, body.page_size) == (1, 1, 10)
    (item,) = body.aliases.alias
    assert item.alias_name == alias
    assert item.key_id == meta.key_id
    assert item.alias_arn == f"acs:kms:{REGION}:{account_of(meta)}:{alias}"


def test_create_alias_naming_the_key_by_arn_or_alias(kms: Client) -> None:
    meta = new_key(kms)
    first, second, third = new_alias(), new_alias(), new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=first, key_id=meta.arn))
    kms.create_alias(km.CreateAliasRequest(alias_name=second, key_id=first))
    kms.create_alias(
        km.CreateAliasRequest(
            alias_name=third, key_id=f"acs:kms:{REGION}:{account_of(meta)}:{first}"
        )
    )
    assert sorted(aliases_of(kms, meta.key_id)) == sorted([first, second, third])
    assert {key_of(kms, a) for a in (first, second, third)} == {meta.key_id}


def test_alias_names_at_the_edges_of_the_rules(kms: Client) -> None:
    key_id = new_key(kms).key_id
    # 255 characters in all; the name is per server, and each backend has its own server.
    names = [new_alias("Mixed_Case-with/slash:colon"), "alias/" + "x" * 249]
    for name in names:
        kms.create_alias(km.CreateAliasRequest(alias_name=name, key_id=key_id))
        assert key_of(kms, name) == key_id
    assert sorted(aliases_of(kms, key_id)) == sorted(names)


def test_create_alias_on_a_disabled_key(kms: Client) -> None:
    key_id = new_key(kms).key_id
    kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    assert key_of(kms, alias) == key_id


def test_update_alias_moves_it_to_another_key(kms: Client) -> None:
    first, second = new_key(kms).key_id, new_key(kms).key_id
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=first))
    assert encrypting_key(kms, alias) == first  # warm any alias cache
    resp = kms.update_alias(km.UpdateAliasRequest(alias_name=alias, key_id=second))
    assert resp.body.request_id
    assert key_of(kms, alias) == second
    assert encrypting_key(kms, alias) == second
    assert aliases_of(kms, first) == []
    assert aliases_of(kms, second) == [alias]


def test_update_alias_to_a_disabled_key(kms: Client) -> None:
    first, second = new_key(kms).key_id, new_key(kms).key_id
    kms.disable_key(km.DisableKeyRequest(key_id=second))
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=first))
    kms.update_alias(km.UpdateAliasRequest(alias_name=alias, key_id=second))
    assert key_of(kms, alias) == second


def test_update_alias_while_the_old_key_is_pending_deletion(kms: Client) -> None:
    # "UpdateAlias checks only the target key's state."
    first, second = new_key(kms).key_id, new_key(kms).key_id
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=first))
    kms.schedule_key_deletion(km.ScheduleKeyDeletionRequest(key_id=first, pending_window_in_days=7))
    kms.update_alias(km.UpdateAliasRequest(alias_name=alias, key_id=second))
    assert key_of(kms, alias) == second


def test_delete_alias(kms: Client) -> None:
    key_id = new_key(kms).key_id
    alias, other = new_alias(), new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    kms.create_alias(km.CreateAliasRequest(alias_name=other, key_id=key_id))
    assert encrypting_key(kms, alias) == key_id  # warm any alias cache
    resp = kms.delete_alias(km.DeleteAliasRequest(alias_name=alias))
    assert resp.body.request_id
    expect_error("Forbidden.KeyNotFound", 404, lambda: key_of(kms, alias))
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.encrypt(
            km.EncryptRequest(key_id=alias, plaintext=base64.b64encode(b"x").decode())
        ),
    )
    assert aliases_of(kms, key_id) == [other]
    assert key_of(kms, key_id) == key_id
    # The name is free again.
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    assert key_of(kms, alias) == key_id


def test_delete_alias_of_a_pending_deletion_key(kms: Client) -> None:
    key_id = new_key(kms).key_id
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    assert key_of(kms, alias) == key_id
    kms.delete_alias(km.DeleteAliasRequest(alias_name=alias))
    assert aliases_of(kms, key_id) == []


def test_list_aliases_by_key_id_pages(kms: Client) -> None:
    meta = new_key(kms)
    stem = new_alias("page")
    names = [f"{stem}-{i}" for i in range(5)]
    for name in names:
        kms.create_alias(km.CreateAliasRequest(alias_name=name, key_id=meta.key_id))
    seen: list[str] = []
    for number, expected in ((1, 2), (2, 2), (3, 1), (4, 0)):
        body = kms.list_aliases_by_key_id(
            km.ListAliasesByKeyIdRequest(key_id=meta.key_id, page_number=number, page_size=2)
        ).body
        assert (body.page_number, body.page_size, body.total_count) == (number, 2, 5)
        assert len(body.aliases.alias) == expected
        assert all(a.key_id == meta.key_id for a in body.aliases.alias)
        seen += [a.alias_name for a in body.aliases.alias]
    assert sorted(seen) == sorted(names)
    # The key may be named by an alias or its ARN too; the listing is the same.
    for ref in (names[0], meta.arn):
        body = kms.list_aliases_by_key_id(
            km.ListAliasesByKeyIdRequest(key_id=ref, page_size=100)
        ).body
        assert sorted(a.alias_name for a in body.aliases.alias) == sorted(names)


def test_list_aliases_pages_through_everything(kms: Client) -> None:
    meta = new_key(kms)
    names = {new_alias("all") for _ in range(3)}
    for name in names:
        kms.create_alias(km.CreateAliasRequest(alias_name=name, key_id=meta.key_id))
    first = kms.list_aliases(km.ListAliasesRequest()).body
    assert (first.page_number, first.page_size) == (1, 10)
    total = first.total_count
    assert total >= 3
    found: dict[str, Any] = {}
    number = 1
    while True:
        body = kms.list_aliases(km.ListAliasesRequest(page_number=number, page_size=2)).body
        assert (body.page_number, body.page_size, body.total_count) == (number, 2, total)
        if not body.aliases.alias:
            break
        assert len(body.aliases.alias) <= 2
        for item in body.aliases.alias:
            assert item.alias_name not in found
            found[item.alias_name] = item
        number += 1
    assert len(found) == total
    for name in names:
        item = found[name]
        assert item.key_id == meta.key_id
        assert item.alias_arn == f"acs:kms:{REGION}:{account_of(meta)}:{name}"


def test_alias_listings_accept_the_page_size_bounds(kms: Client) -> None:
    for size in (1, 100):
        assert kms.list_aliases(km.ListAliasesRequest(page_size=size)).body.page_size == size


# -- errors ----------------------------------------------------------------------------------


def test_alias_already_exists(kms: Client) -> None:
    first, second = new_key(kms).key_id, new_key(kms).key_id
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=first))
    for key_id in (first, second):
        expect_error(
            "AliasAlreadyExists",
            400,
            lambda k=key_id: kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=k)),
        )
    assert key_of(kms, alias) == first
    assert aliases_of(kms, second) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda kms, a, k: kms.update_alias(km.UpdateAliasRequest(alias_name=a, key_id=k)),
        lambda kms, a, k: kms.delete_alias(km.DeleteAliasRequest(alias_name=a)),
    ],
    ids=["UpdateAlias", "DeleteAlias"],
)
def test_alias_not_found(kms: Client, call: Callable[[Client, str, str], Any]) -> None:
    key_id = new_key(kms).key_id
    alias = new_alias("missing")
    expect_error("Forbidden.AliasNotFound", 404, lambda: call(kms, alias, key_id))
    assert aliases_of(kms, key_id) == []


def test_delete_alias_twice(kms: Client) -> None:
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=new_key(kms).key_id))
    kms.delete_alias(km.DeleteAliasRequest(alias_name=alias))
    expect_error(
        "Forbidden.AliasNotFound",
        404,
        lambda: kms.delete_alias(km.DeleteAliasRequest(alias_name=alias)),
    )


@pytest.mark.parametrize(
    ("existing", "call"),
    [
        (False, lambda kms, a, k: kms.create_alias(km.CreateAliasRequest(alias_name=a, key_id=k))),
        (True, lambda kms, a, k: kms.update_alias(km.UpdateAliasRequest(alias_name=a, key_id=k))),
        (
            False,
            lambda kms, a, k: kms.list_aliases_by_key_id(km.ListAliasesByKeyIdRequest(key_id=k)),
        ),
    ],
    ids=["CreateAlias", "UpdateAlias", "ListAliasesByKeyId"],
)
@pytest.mark.parametrize(
    "ref",
    [
        lambda meta: "key-doesnotexist0000000",
        lambda meta: new_alias("nothing"),
        lambda meta: meta.arn.replace(f":{account_of(meta)}:", ":9999999999999999:"),
        lambda meta: meta.arn.replace(f":{REGION}:", ":cn-beijing:"),
    ],
    ids=["unknown-id", "unknown-alias", "other-account", "other-region"],
)
def test_key_not_found(
    kms: Client, existing: bool, call: Callable[[Client, str, str], Any], ref: Callable[[Any], str]
) -> None:
    meta = new_key(kms)
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    target = alias if existing else new_alias()
    expect_error("Forbidden.KeyNotFound", 404, lambda: call(kms, target, ref(meta)))
    assert key_of(kms, alias) == meta.key_id


@pytest.fixture
def pending_key(kms: Client) -> str:
    key_id = new_key(kms).key_id
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    return key_id


def test_create_alias_on_a_pending_deletion_key(kms: Client, pending_key: str) -> None:
    alias = new_alias()
    expect_error(
        "Rejected.StateModifiedFailed",
        409,
        lambda: kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=pending_key)),
    )
    assert aliases_of(kms, pending_key) == []
    expect_error("Forbidden.KeyNotFound", 404, lambda: key_of(kms, alias))


def test_update_alias_to_a_pending_deletion_key(kms: Client, pending_key: str) -> None:
    key_id = new_key(kms).key_id
    alias = new_alias()
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=key_id))
    expect_error(
        "Rejected.StateModifiedFailed",
        409,
        lambda: kms.update_alias(km.UpdateAliasRequest(alias_name=alias, key_id=pending_key)),
    )
    assert key_of(kms, alias) == key_id


BAD_NAMES = [
    "foo",
    "alias/",
    "alias/acs_x",
    "alias/acs",
    "alias/acsfoo",
    "Alias/foo",
    "alias/with space",
    "alias/" + "x" * 250,
    "alias/ünïcode",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_alias_with_a_bad_name(kms: Client, name: str) -> None:
    key_id = new_key(kms).key_id
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.create_alias(km.CreateAliasRequest(alias_name=name, key_id=key_id)),
    )
    assert '"AliasName"' in exc.message
    assert aliases_of(kms, key_id) == []


@pytest.mark.parametrize("name", ["foo", "alias/acs_x"])
def test_update_alias_with_a_bad_name(kms: Client, name: str) -> None:
    key_id = new_key(kms).key_id
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.update_alias(km.UpdateAliasRequest(alias_name=name, key_id=key_id)),
    )
    assert '"AliasName"' in exc.message


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("AliasName", lambda kms, k: kms.create_alias(km.CreateAliasRequest(key_id=k))),
        ("KeyId", lambda kms, k: kms.create_alias(km.CreateAliasRequest(alias_name=new_alias()))),
        ("AliasName", lambda kms, k: kms.update_alias(km.UpdateAliasRequest(key_id=k))),
        ("KeyId", lambda kms, k: kms.update_alias(km.UpdateAliasRequest(alias_name=new_alias()))),
        ("AliasName", lambda kms, k: kms.delete_alias(km.DeleteAliasRequest())),
        ("KeyId", lambda kms, k: kms.list_aliases_by_key_id(km.ListAliasesByKeyIdRequest())),
    ],
    ids=[
        "CreateAlias-AliasName",
        "CreateAlias-KeyId",
        "UpdateAlias-AliasName",
        "UpdateAlias-KeyId",
        "DeleteAlias",
        "ListAliasesByKeyId",
    ],
)
def test_missing_parameter(kms: Client, name: str, call: Callable[[Client, str], Any]) -> None:
    key_id = new_key(kms).key_id
    exc = expect_error("MissingParameter", 400, lambda: call(kms, key_id))
    assert f'"{name}"' in exc.message


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"page_size": 0}, "PageSize"),
        ({"page_size": 101}, "PageSize"),
        ({"page_number": 0}, "PageNumber"),
    ],
)
def test_listing_paging_out_of_range(kms: Client, fields: dict[str, int], name: str) -> None:
    key_id = new_key(kms).key_id
    for call in (
        lambda: kms.list_aliases(km.ListAliasesRequest(**fields)),
        lambda: kms.list_aliases_by_key_id(km.ListAliasesByKeyIdRequest(key_id=key_id, **fields)),
    ):
        exc = expect_error("InvalidParameter", 400, call)
        assert f'"{name}"' in exc.message
