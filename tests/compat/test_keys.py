"""Key management through the official new SDK: CreateKey, DescribeKey, ListKeys, key states,
deletion, descriptions and deletion protection (spec/kms-api.md §7.1, §7.2, §7.7, §7.8)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client

from tests.compat.instance_helpers import generic, new_instance
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess

REGION = "cn-hangzhou"
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
UNKNOWN_KEY = "key-doesnotexist0000000"


def unique(prefix: str = "t") -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def tags_json(*pairs: tuple[str, str]) -> str:
    """CreateKey's ``Tags`` parameter."""
    return json.dumps([{"TagKey": k, "TagValue": v} for k, v in pairs])


def filters_json(**filters: list[str]) -> str:
    """ListKeys' ``Filters`` parameter."""
    return json.dumps([{"Key": k, "Values": v} for k, v in filters.items()])


def create(kms: Client, **fields: Any) -> km.CreateKeyResponseBodyKeyMetadata:
    """CreateKey, returning the metadata."""
    return kms.create_key(km.CreateKeyRequest(**fields)).body.key_metadata


def describe(kms: Client, key_id: str) -> km.DescribeKeyResponseBodyKeyMetadata:
    """DescribeKey, returning the metadata."""
    return kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata


def listed(kms: Client, **filters: list[str]) -> list[str]:
    """Key ids ListKeys returns for these filters (one page of 100)."""
    body = kms.list_keys(km.ListKeysRequest(filters=filters_json(**filters), page_size=100)).body
    ids = [k.key_id for k in body.keys.key]
    assert body.total_count == len(ids)
    return ids


def account_of(meta: Any) -> str:
    """The account id in a key ARN."""
    return str(meta.arn.split(":")[3])


def parse_date(text: str) -> datetime:
    """An Alibaba UTC date."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def roundtrip(kms: Client, key_id: str) -> None:
    """Encrypt and decrypt a few bytes with the key."""
    enc = kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(b"mamori").decode())
    ).body
    dec = kms.decrypt(km.DecryptRequest(ciphertext_blob=enc.ciphertext_blob)).body
    assert dec.key_id == enc.key_id
    assert base64.b64decode(dec.plaintext) == b"mamori"


# -- CreateKey -------------------------------------------------------------------------------


def test_create_key_defaults(kms: Client) -> None:
    resp = kms.create_key(km.CreateKeyRequest())
    assert resp.status_code == 200
    assert resp.body.request_id
    meta = resp.body.key_metadata
    account = account_of(meta)
    assert account == "1234567890123456"
    assert re.fullmatch(r"key-[a-z0-9]{20}", meta.key_id)
    assert meta.arn == f"acs:kms:{REGION}:{account}:key/{meta.key_id}"
    assert meta.key_spec == "Aliyun_AES_256"
    assert meta.key_usage == "ENCRYPT/DECRYPT"
    assert meta.origin == "Aliyun_KMS"
    assert meta.protection_level == "SOFTWARE"
    assert meta.key_state == "Enabled"
    assert meta.description == ""
    assert meta.creator == account
    assert DATE.fullmatch(meta.creation_date)
    assert abs(parse_date(meta.creation_date) - datetime.now(UTC)) < timedelta(minutes=5)
    assert not meta.delete_date
    assert meta.automatic_rotation == "Disabled"
    assert not meta.next_rotation_date
    assert describe(kms, meta.key_id).deletion_protection == "Disabled"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.primary_key_version)
    roundtrip(kms, meta.key_id)


@pytest.mark.parametrize("spec", ["Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_SM4"])
def test_create_key_with_explicit_fields(kms: Client, spec: str) -> None:
    meta = create(
        kms,
        key_spec=spec,
        key_usage="ENCRYPT/DECRYPT",
        origin="Aliyun_KMS",
        protection_level="SOFTWARE",
        description=f"a {spec} key",
    )
    assert (meta.key_spec, meta.key_usage, meta.origin, meta.protection_level) == (
        spec,
        "ENCRYPT/DECRYPT",
        "Aliyun_KMS",
        "SOFTWARE",
    )
    assert meta.description == f"a {spec} key"
    again = describe(kms, meta.key_id).to_map()
    assert {k: again[k] for k in meta.to_map()} == meta.to_map()
    roundtrip(kms, meta.key_id)


@pytest.mark.parametrize("interval", ["7d", "168h", "10080m", "604800s"])
def test_create_key_with_automatic_rotation(kms: Client, interval: str) -> None:
    meta = create(kms, enable_automatic_rotation=True, rotation_interval=interval)
    assert meta.automatic_rotation == "Enabled"
    assert meta.rotation_interval == "604800s"
    assert DATE.fullmatch(meta.next_rotation_date)
    assert parse_date(meta.next_rotation_date) - parse_date(meta.creation_date) == timedelta(days=7)
    assert describe(kms, meta.key_id).rotation_interval == "604800s"


def test_create_key_with_rotation_disabled_explicitly(kms: Client) -> None:
    meta = create(kms, enable_automatic_rotation=False)
    assert meta.automatic_rotation == "Disabled"


def test_create_key_with_tags_and_dkms_instance(server: ServerProcess, kms: Client) -> None:
    tag, instance = unique("tag"), new_instance(generic(server))
    meta = create(kms, tags=tags_json((tag, "v1"), (unique("tag"), "v2")), dkmsinstance_id=instance)
    assert meta.dkmsinstance_id == instance
    assert describe(kms, meta.key_id).dkmsinstance_id == instance
    assert listed(kms, TagKey=[tag]) == [meta.key_id]
    assert listed(kms, DKMSInstanceId=[instance]) == [meta.key_id]


# -- DescribeKey -----------------------------------------------------------------------------


def test_describe_key_by_id_alias_and_arn(kms: Client) -> None:
    meta = create(kms, description="find me")
    alias = f"alias/{unique('describe')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    account = account_of(meta)
    for ref in (
        meta.key_id,
        alias,
        meta.arn,
        f"acs:kms:{REGION}:{account}:{alias}",
    ):
        resp = kms.describe_key(km.DescribeKeyRequest(key_id=ref))
        assert resp.body.request_id
        got = resp.body.key_metadata
        assert got.key_id == meta.key_id, ref
        assert got.arn == meta.arn
        assert got.description == "find me"


# -- ListKeys --------------------------------------------------------------------------------


def test_list_keys_pages(kms: Client) -> None:
    tag = unique("page")
    made = {create(kms, tags=tags_json((tag, "x"))).key_id for _ in range(5)}
    flt = filters_json(TagKey=[tag])
    seen: list[str] = []
    for number, expected in ((1, 2), (2, 2), (3, 1), (4, 0)):
        body = kms.list_keys(km.ListKeysRequest(filters=flt, page_number=number, page_size=2)).body
        assert (body.page_number, body.page_size, body.total_count) == (number, 2, 5)
        assert len(body.keys.key) == expected
        for key in body.keys.key:
            assert key.key_arn.endswith(f":key/{key.key_id}")
            assert key.key_arn.startswith(f"acs:kms:{REGION}:")
        seen += [k.key_id for k in body.keys.key]
    assert sorted(seen) == sorted(made)


def test_list_keys_default_paging(kms: Client) -> None:
    create(kms)
    body = kms.list_keys(km.ListKeysRequest()).body
    assert (body.page_number, body.page_size) == (1, 10)
    assert body.total_count >= 1
    assert 1 <= len(body.keys.key) <= 10


@dataclass
class FilterFixture:
    """Keys with known attributes, all tagged with ``tag``."""

    tag: str
    enabled: str
    disabled: str
    pending: str
    instance_key: str
    instance: str
    alias: str
    account: str

    @property
    def all(self) -> list[str]:
        """Every key of the fixture."""
        return [self.enabled, self.disabled, self.pending, self.instance_key]


@pytest.fixture(scope="module")
def fx(server: ServerProcess, kms: Client) -> Iterator[FilterFixture]:
    tag, instance = unique("filter"), new_instance(generic(server))
    enabled = create(kms, tags=tags_json((tag, "enabled")))
    disabled = create(kms, key_spec="Aliyun_AES_128", tags=tags_json((tag, "disabled")))
    kms.disable_key(km.DisableKeyRequest(key_id=disabled.key_id))
    pending = create(kms, key_spec="Aliyun_SM4", tags=tags_json((tag, "pending")))
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=pending.key_id, pending_window_in_days=30)
    )
    inst = create(kms, dkmsinstance_id=instance, tags=tags_json((tag, "instance")))
    alias = f"alias/{unique('filter')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=enabled.key_id))
    yield FilterFixture(
        tag,
        enabled.key_id,
        disabled.key_id,
        pending.key_id,
        inst.key_id,
        instance,
        alias,
        account_of(enabled),
    )


FILTER_CASES: list[
    tuple[
        str, Callable[[FilterFixture], dict[str, list[str]]], Callable[[FilterFixture], list[str]]
    ]
] = [
    ("TagKey", lambda f: {"TagKey": [f.tag]}, lambda f: f.all),
    ("KeyState", lambda f: {"TagKey": [f.tag], "KeyState": ["Disabled"]}, lambda f: [f.disabled]),
    (
        "KeyState-or",
        lambda f: {"TagKey": [f.tag], "KeyState": ["Disabled", "PendingDeletion"]},
        lambda f: [f.disabled, f.pending],
    ),
    (
        "KeyState-enabled",
        lambda f: {"TagKey": [f.tag], "KeyState": ["Enabled"]},
        lambda f: [f.enabled, f.instance_key],
    ),
    ("KeySpec", lambda f: {"TagKey": [f.tag], "KeySpec": ["Aliyun_SM4"]}, lambda f: [f.pending]),
    (
        "KeySpec-or",
        lambda f: {"TagKey": [f.tag], "KeySpec": ["Aliyun_SM4", "Aliyun_AES_128"]},
        lambda f: [f.disabled, f.pending],
    ),
    (
        "KeyUsage",
        lambda f: {"TagKey": [f.tag], "KeyUsage": ["ENCRYPT/DECRYPT"]},
        lambda f: f.all,
    ),
    ("KeyUsage-none", lambda f: {"TagKey": [f.tag], "KeyUsage": ["SIGN/VERIFY"]}, lambda f: []),
    (
        "ProtectionLevel",
        lambda f: {"TagKey": [f.tag], "ProtectionLevel": ["SOFTWARE"]},
        lambda f: f.all,
    ),
    (
        "ProtectionLevel-none",
        lambda f: {"TagKey": [f.tag], "ProtectionLevel": ["HSM"]},
        lambda f: [],
    ),
    ("CreatorType", lambda f: {"TagKey": [f.tag], "CreatorType": ["User"]}, lambda f: f.all),
    ("CreatorType-none", lambda f: {"TagKey": [f.tag], "CreatorType": ["Service"]}, lambda f: []),
    ("DKMSInstanceId", lambda f: {"DKMSInstanceId": [f.instance]}, lambda f: [f.instance_key]),
    ("keyId", lambda f: {"keyId": [f.enabled, f.pending]}, lambda f: [f.enabled, f.pending]),
    ("AliasName", lambda f: {"AliasName": [f.alias]}, lambda f: [f.enabled]),
    ("Creator", lambda f: {"TagKey": [f.tag], "Creator": [f.account]}, lambda f: f.all),
    ("Creator-none", lambda f: {"TagKey": [f.tag], "Creator": ["someone-else"]}, lambda f: []),
    (
        "TagValue",
        lambda f: {"TagKey": [f.tag], "TagValue": ["disabled", "instance"]},
        lambda f: [f.disabled, f.instance_key],
    ),
    (
        "and-across-keys",
        lambda f: {"keyId": [f.enabled, f.disabled], "KeyState": ["Disabled"]},
        lambda f: [f.disabled],
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "expected"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES]
)
def test_list_keys_filter(
    kms: Client,
    fx: FilterFixture,
    name: str,
    make: Callable[[FilterFixture], dict[str, list[str]]],
    expected: Callable[[FilterFixture], list[str]],
) -> None:
    assert sorted(listed(kms, **make(fx))) == sorted(expected(fx)), name


# -- key states ------------------------------------------------------------------------------


def test_disable_and_enable(kms: Client) -> None:
    key_id = create(kms).key_id
    kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    assert describe(kms, key_id).key_state == "Disabled"
    kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    assert describe(kms, key_id).key_state == "Disabled"
    kms.enable_key(km.EnableKeyRequest(key_id=key_id))
    assert describe(kms, key_id).key_state == "Enabled"
    kms.enable_key(km.EnableKeyRequest(key_id=key_id))
    assert describe(kms, key_id).key_state == "Enabled"
    roundtrip(kms, key_id)


def test_state_changes_by_alias_and_arn(kms: Client) -> None:
    meta = create(kms)
    alias = f"alias/{unique('state')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    kms.disable_key(km.DisableKeyRequest(key_id=alias))
    assert describe(kms, meta.key_id).key_state == "Disabled"
    kms.enable_key(km.EnableKeyRequest(key_id=meta.arn))
    assert describe(kms, meta.key_id).key_state == "Enabled"


@pytest.mark.parametrize("days", [7, 30, 366])
def test_schedule_and_cancel_deletion(kms: Client, days: int) -> None:
    key_id = create(kms).key_id
    resp = kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=days)
    )
    assert resp.body.request_id
    meta = describe(kms, key_id)
    assert meta.key_state == "PendingDeletion"
    assert DATE.fullmatch(meta.delete_date)
    delay = parse_date(meta.delete_date) - datetime.now(UTC)
    assert abs(delay - timedelta(days=days)) < timedelta(minutes=5)
    kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=key_id))
    meta = describe(kms, key_id)
    assert meta.key_state == "Enabled"
    assert not meta.delete_date
    roundtrip(kms, key_id)


def test_cancel_deletion_of_a_disabled_key_returns_it_to_enabled(kms: Client) -> None:
    key_id = create(kms).key_id
    kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=key_id))
    assert describe(kms, key_id).key_state == "Enabled"


def test_pending_deletion_key_is_still_described_and_listed(kms: Client) -> None:
    tag = unique("pending")
    key_id = create(kms, tags=tags_json((tag, "x"))).key_id
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    assert describe(kms, key_id).key_state == "PendingDeletion"
    assert listed(kms, TagKey=[tag]) == [key_id]


@pytest.fixture
def pending_key(kms: Client) -> str:
    key_id = create(kms).key_id
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7)
    )
    return key_id


@pytest.mark.parametrize(
    "call",
    [
        lambda kms, k: kms.enable_key(km.EnableKeyRequest(key_id=k)),
        lambda kms, k: kms.disable_key(km.DisableKeyRequest(key_id=k)),
        lambda kms, k: kms.schedule_key_deletion(
            km.ScheduleKeyDeletionRequest(key_id=k, pending_window_in_days=7)
        ),
    ],
    ids=["EnableKey", "DisableKey", "ScheduleKeyDeletion"],
)
def test_pending_deletion_rejects_state_changes(
    kms: Client, pending_key: str, call: Callable[[Client, str], Any]
) -> None:
    expect_error("Rejected.StateModifiedFailed", 409, lambda: call(kms, pending_key))
    meta = describe(kms, pending_key)
    assert meta.key_state == "PendingDeletion"
    assert meta.delete_date


@pytest.mark.parametrize("disabled", [False, True], ids=["Enabled", "Disabled"])
def test_cancel_deletion_of_a_key_not_pending(kms: Client, disabled: bool) -> None:
    key_id = create(kms).key_id
    if disabled:
        kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    expect_error(
        "Rejected.StateModifiedFailed",
        409,
        lambda: kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=key_id)),
    )
    assert describe(kms, key_id).key_state == ("Disabled" if disabled else "Enabled")


# -- description and deletion protection -----------------------------------------------------


def test_update_key_description(kms: Client) -> None:
    meta = create(kms, description="before")
    kms.update_key_description(
        km.UpdateKeyDescriptionRequest(key_id=meta.key_id, description="after")
    )
    assert describe(kms, meta.key_id).description == "after"
    alias = f"alias/{unique('desc')}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    kms.update_key_description(
        km.UpdateKeyDescriptionRequest(key_id=alias, description="via alias")
    )
    assert describe(kms, meta.key_id).description == "via alias"


def test_deletion_protection_blocks_schedule_key_deletion(kms: Client) -> None:
    meta = create(kms)
    kms.set_deletion_protection(
        km.SetDeletionProtectionRequest(
            key_id=meta.key_id,
            enable_deletion_protection=True,
            deletion_protection_description="keep it",
        )
    )
    got = describe(kms, meta.key_id)
    assert (got.deletion_protection, got.deletion_protection_description) == ("Enabled", "keep it")
    # The spec names no dedicated code for this; Mamori answers like any refused state change.
    expect_error(
        "Rejected.StateModifiedFailed",
        409,
        lambda: kms.schedule_key_deletion(
            km.ScheduleKeyDeletionRequest(key_id=meta.key_id, pending_window_in_days=7)
        ),
    )
    assert describe(kms, meta.key_id).key_state == "Enabled"
    kms.set_deletion_protection(
        km.SetDeletionProtectionRequest(
            protected_resource_arn=meta.arn, enable_deletion_protection=False
        )
    )
    got = describe(kms, meta.key_id)
    assert (got.deletion_protection, got.deletion_protection_description) == ("Disabled", "")
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=meta.key_id, pending_window_in_days=7)
    )
    assert describe(kms, meta.key_id).key_state == "PendingDeletion"


def test_deletion_protection_by_arn_and_key_id_together(kms: Client) -> None:
    meta = create(kms)
    kms.set_deletion_protection(
        km.SetDeletionProtectionRequest(
            key_id=meta.key_id, protected_resource_arn=meta.arn, enable_deletion_protection=True
        )
    )
    assert describe(kms, meta.key_id).deletion_protection == "Enabled"


# -- errors ----------------------------------------------------------------------------------

KEY_CALLS: list[tuple[str, Callable[[Client, str], Any]]] = [
    ("DescribeKey", lambda kms, k: kms.describe_key(km.DescribeKeyRequest(key_id=k))),
    ("EnableKey", lambda kms, k: kms.enable_key(km.EnableKeyRequest(key_id=k))),
    ("DisableKey", lambda kms, k: kms.disable_key(km.DisableKeyRequest(key_id=k))),
    (
        "ScheduleKeyDeletion",
        lambda kms, k: kms.schedule_key_deletion(
            km.ScheduleKeyDeletionRequest(key_id=k, pending_window_in_days=7)
        ),
    ),
    (
        "CancelKeyDeletion",
        lambda kms, k: kms.cancel_key_deletion(km.CancelKeyDeletionRequest(key_id=k)),
    ),
    (
        "UpdateKeyDescription",
        lambda kms, k: kms.update_key_description(
            km.UpdateKeyDescriptionRequest(key_id=k, description="d")
        ),
    ),
    (
        "SetDeletionProtection",
        lambda kms, k: kms.set_deletion_protection(
            km.SetDeletionProtectionRequest(key_id=k, enable_deletion_protection=True)
        ),
    ),
]


@pytest.mark.parametrize("call", [c[1] for c in KEY_CALLS], ids=[c[0] for c in KEY_CALLS])
@pytest.mark.parametrize(
    "ref",
    [
        lambda meta: UNKNOWN_KEY,
        lambda meta: str(uuid.uuid4()),
        lambda meta: f"alias/{unique('nothing')}",
        lambda meta: meta.arn.replace(f":{account_of(meta)}:", ":9999999999999999:"),
        lambda meta: meta.arn.replace(f":{REGION}:", ":cn-shanghai:"),
        lambda meta: f"acs:kms:{REGION}:{account_of(meta)}:alias/{unique('nothing')}",
        lambda meta: f"acs:kms:{REGION}:{account_of(meta)}:secret/{meta.key_id}",
    ],
    ids=[
        "unknown-id",
        "unknown-uuid",
        "unknown-alias",
        "other-account",
        "other-region",
        "unknown-alias-arn",
        "not-a-key-arn",
    ],
)
def test_key_not_found(
    kms: Client, some_key: Any, call: Callable[[Client, str], Any], ref: Callable[[Any], str]
) -> None:
    expect_error("Forbidden.KeyNotFound", 404, lambda: call(kms, ref(some_key)))


@pytest.fixture(scope="module")
def some_key(kms: Client) -> Any:
    """An existing key whose ARN the not-found tests mangle; it must never change."""
    return create(kms, description="untouched")


def test_not_found_calls_left_the_real_key_untouched(kms: Client, some_key: Any) -> None:
    meta = describe(kms, some_key.key_id)
    assert (meta.key_state, meta.description, meta.deletion_protection) == (
        "Enabled",
        "untouched",
        "Disabled",
    )


def test_set_deletion_protection_with_a_foreign_arn(kms: Client, some_key: Any) -> None:
    foreign = some_key.arn.replace(f":{account_of(some_key)}:", ":9999999999999999:")
    expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.set_deletion_protection(
            km.SetDeletionProtectionRequest(
                protected_resource_arn=foreign, enable_deletion_protection=True
            )
        ),
    )


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("KeyId", lambda kms, k: kms.describe_key(km.DescribeKeyRequest())),
        ("KeyId", lambda kms, k: kms.enable_key(km.EnableKeyRequest())),
        ("KeyId", lambda kms, k: kms.disable_key(km.DisableKeyRequest())),
        ("KeyId", lambda kms, k: kms.cancel_key_deletion(km.CancelKeyDeletionRequest())),
        (
            "KeyId",
            lambda kms, k: kms.schedule_key_deletion(
                km.ScheduleKeyDeletionRequest(pending_window_in_days=7)
            ),
        ),
        (
            "PendingWindowInDays",
            lambda kms, k: kms.schedule_key_deletion(km.ScheduleKeyDeletionRequest(key_id=k)),
        ),
        (
            "Description",
            lambda kms, k: kms.update_key_description(km.UpdateKeyDescriptionRequest(key_id=k)),
        ),
        (
            "EnableDeletionProtection",
            lambda kms, k: kms.set_deletion_protection(km.SetDeletionProtectionRequest(key_id=k)),
        ),
        (
            "ProtectedResourceArn",
            lambda kms, k: kms.set_deletion_protection(
                km.SetDeletionProtectionRequest(enable_deletion_protection=True)
            ),
        ),
    ],
    ids=[
        "DescribeKey",
        "EnableKey",
        "DisableKey",
        "CancelKeyDeletion",
        "ScheduleKeyDeletion-KeyId",
        "ScheduleKeyDeletion-PendingWindowInDays",
        "UpdateKeyDescription",
        "SetDeletionProtection-Enable",
        "SetDeletionProtection-resource",
    ],
)
def test_missing_parameter(
    kms: Client, some_key: Any, name: str, call: Callable[[Client, str], Any]
) -> None:
    exc = expect_error("MissingParameter", 400, lambda: call(kms, some_key.key_id))
    assert f'"{name}"' in exc.message


@pytest.mark.parametrize("days", [0, 6, 367, -1])
def test_schedule_key_deletion_window_out_of_range(kms: Client, days: int) -> None:
    key_id = create(kms).key_id
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.schedule_key_deletion(
            km.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=days)
        ),
    )
    assert '"PendingWindowInDays"' in exc.message
    assert describe(kms, key_id).key_state == "Enabled"


def _key_count(kms: Client) -> int:
    return int(kms.list_keys(km.ListKeysRequest(page_size=1)).body.total_count)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("RotationInterval", {"enable_automatic_rotation": True, "rotation_interval": "1d"}),
        ("RotationInterval", {"enable_automatic_rotation": True, "rotation_interval": "6d"}),
        ("RotationInterval", {"enable_automatic_rotation": True, "rotation_interval": "366d"}),
        ("RotationInterval", {"enable_automatic_rotation": True, "rotation_interval": "abc"}),
        ("RotationInterval", {"enable_automatic_rotation": True, "rotation_interval": "7x"}),
        ("KeySpec", {"key_spec": "Aliyun_AES_512"}),
        ("KeySpec", {"key_spec": "aliyun_aes_256"}),
        ("KeyUsage", {"key_usage": "SIGN/VERIFY"}),
        ("KeyUsage", {"key_spec": "Aliyun_SM4", "key_usage": "SIGN/VERIFY"}),
        ("KeyUsage", {"key_usage": "ENCRYPT"}),
        ("Origin", {"origin": "aliyun_kms"}),
        ("ProtectionLevel", {"protection_level": "software"}),
        ("Tags", {"tags": "not json"}),
        ("Tags", {"tags": '{"TagKey": "k", "TagValue": "v"}'}),
        ("Tags", {"tags": '[{"TagKey": 1, "TagValue": "v"}]'}),
        ("Tags", {"tags": tags_json(("acs:reserved", "v"))}),
        ("Tags", {"tags": tags_json(("aliyun-reserved", "v"))}),
        ("Tags", {"tags": tags_json(("k" * 129, "v"))}),
        ("Tags", {"tags": tags_json(*((f"k{i}", "v") for i in range(21)))}),
        ("EnableAutomaticRotation", {"enable_automatic_rotation": "maybe"}),
    ],
)
def test_create_key_invalid_parameter_creates_nothing(
    kms: Client, name: str, fields: dict[str, Any]
) -> None:
    before = _key_count(kms)
    exc = expect_error(
        "InvalidParameter", 400, lambda: kms.create_key(km.CreateKeyRequest(**fields))
    )
    assert f'"{name}"' in exc.message
    assert _key_count(kms) == before


def test_create_key_with_one_bad_tag_leaves_no_key_behind(kms: Client) -> None:
    good = unique("half")
    expect_error(
        "InvalidParameter",
        400,
        lambda: create(kms, tags=tags_json((good, "ok"), ("acs:bad", "no"))),
    )
    assert listed(kms, TagKey=[good]) == []
    key_id = create(kms, tags=tags_json((good, "ok"))).key_id
    assert listed(kms, TagKey=[good]) == [key_id]


@pytest.mark.parametrize(
    "fields",
    [
        {"filters": "not json"},
        {"filters": '{"Key": "KeyState", "Values": ["Enabled"]}'},
        {"filters": '[{"Key": "Nope", "Values": ["x"]}]'},
        {"filters": '[{"Key": "keyid", "Values": ["x"]}]'},
        {"filters": '[{"Key": "KeyState", "Values": "Enabled"}]'},
        {"filters": json.dumps([{"Key": "TagKey", "Values": ["x"]}] * 11)},
        {"page_size": 0},
        {"page_size": 101},
        {"page_number": 0},
    ],
    ids=[
        "filters-not-json",
        "filters-object",
        "filters-unknown-key",
        "filters-key-case",
        "filters-values-not-list",
        "filters-too-many",
        "page-size-0",
        "page-size-101",
        "page-number-0",
    ],
)
def test_list_keys_invalid_parameter(kms: Client, fields: dict[str, Any]) -> None:
    exc = expect_error("InvalidParameter", 400, lambda: kms.list_keys(km.ListKeysRequest(**fields)))
    name = (
        "Filters" if "filters" in fields else "PageSize" if "page_size" in fields else "PageNumber"
    )
    assert f'"{name}"' in exc.message


def test_list_keys_page_size_bounds_accepted(kms: Client) -> None:
    for size in (1, 100):
        body = kms.list_keys(km.ListKeysRequest(page_size=size)).body
        assert body.page_size == size
        assert len(body.keys.key) <= size


def test_error_body_shape(kms: Client) -> None:
    exc = expect_error(
        "Forbidden.KeyNotFound",
        404,
        lambda: kms.describe_key(km.DescribeKeyRequest(key_id=UNKNOWN_KEY)),
    )
    assert exc.request_id
    assert exc.data["Code"] == "Forbidden.KeyNotFound"
    assert exc.data["RequestId"] == exc.request_id
    assert exc.data["Message"]
    assert {"HostId", "Recommend"} <= exc.data.keys()
    assert exc.data["statusCode"] == 404
