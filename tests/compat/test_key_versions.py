"""Key versions and rotation through the official new SDK: CreateKeyVersion, DescribeKeyVersion,
ListKeyVersions and UpdateRotationPolicy (spec/kms-api.md §7.2, §7.3, §7.8)."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from tests.compat.sdk import expect_error

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
VERSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_key(kms: Client, **fields: Any) -> km.CreateKeyResponseBodyKeyMetadata:
    """A fresh key."""
    return kms.create_key(km.CreateKeyRequest(**fields)).body.key_metadata


def describe(kms: Client, key_id: str) -> km.DescribeKeyResponseBodyKeyMetadata:
    """DescribeKey, returning the metadata."""
    return kms.describe_key(km.DescribeKeyRequest(key_id=key_id)).body.key_metadata


def version_ids(kms: Client, key_id: str) -> list[str]:
    """Every version id of a key (one page of 100)."""
    body = kms.list_key_versions(km.ListKeyVersionsRequest(key_id=key_id, page_size=100)).body
    assert body.total_count == len(body.key_versions.key_version)
    return [v.key_version_id for v in body.key_versions.key_version]


def rotate(kms: Client, key_id: str) -> km.CreateKeyVersionResponseBodyKeyVersion:
    """CreateKeyVersion, returning the new version."""
    return kms.create_key_version(km.CreateKeyVersionRequest(key_id=key_id)).body.key_version


def encrypt(kms: Client, key_id: str, data: bytes) -> km.EncryptResponseBody:
    """Encrypt ``data``."""
    return kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=base64.b64encode(data).decode())
    ).body


def decrypt(kms: Client, blob: str) -> km.DecryptResponseBody:
    """Decrypt a blob."""
    return kms.decrypt(km.DecryptRequest(ciphertext_blob=blob)).body


def parse_date(text: str) -> datetime:
    """An Alibaba UTC date."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_a_new_key_has_one_version(kms: Client) -> None:
    meta = new_key(kms)
    body = kms.list_key_versions(km.ListKeyVersionsRequest(key_id=meta.key_id)).body
    assert body.request_id
    assert (body.total_count, body.page_number, body.page_size) == (1, 1, 10)
    (version,) = body.key_versions.key_version
    assert version.key_id == meta.key_id
    assert version.key_version_id == meta.primary_key_version
    assert VERSION_ID.fullmatch(version.key_version_id)
    assert DATE.fullmatch(version.creation_date)
    described = kms.describe_key_version(
        km.DescribeKeyVersionRequest(key_id=meta.key_id, key_version_id=version.key_version_id)
    ).body
    assert described.request_id
    assert described.key_version.to_map() == {
        "KeyId": meta.key_id,
        "KeyVersionId": version.key_version_id,
        "CreationDate": version.creation_date,
    }


def test_create_key_version_becomes_primary(kms: Client) -> None:
    meta = new_key(kms)
    resp = kms.create_key_version(km.CreateKeyVersionRequest(key_id=meta.key_id))
    assert resp.body.request_id
    version = resp.body.key_version
    assert version.key_id == meta.key_id
    assert VERSION_ID.fullmatch(version.key_version_id)
    assert version.key_version_id != meta.primary_key_version
    assert DATE.fullmatch(version.creation_date)
    after = describe(kms, meta.key_id)
    assert after.primary_key_version == version.key_version_id
    assert DATE.fullmatch(after.last_rotation_date)
    assert abs(
        parse_date(after.last_rotation_date) - parse_date(version.creation_date)
    ) < timedelta(seconds=5)
    assert sorted(version_ids(kms, meta.key_id)) == sorted(
        [meta.primary_key_version, version.key_version_id]
    )
    described = kms.describe_key_version(
        km.DescribeKeyVersionRequest(key_id=meta.key_id, key_version_id=version.key_version_id)
    ).body.key_version
    assert described.to_map() == version.to_map()


def test_old_blobs_still_decrypt_and_encrypt_uses_the_new_primary(kms: Client) -> None:
    meta = new_key(kms)
    old = encrypt(kms, meta.key_id, b"before rotation")
    assert (old.key_id, old.key_version_id) == (meta.key_id, meta.primary_key_version)
    new_version = rotate(kms, meta.key_id).key_version_id
    new = encrypt(kms, meta.key_id, b"after rotation")
    assert (new.key_id, new.key_version_id) == (meta.key_id, new_version)
    for blob, plain, version in (
        (old.ciphertext_blob, b"before rotation", meta.primary_key_version),
        (new.ciphertext_blob, b"after rotation", new_version),
    ):
        dec = decrypt(kms, blob)
        assert (dec.key_id, dec.key_version_id) == (meta.key_id, version)
        assert base64.b64decode(dec.plaintext) == plain
    # Another rotation: both earlier versions keep decrypting.
    third = rotate(kms, meta.key_id).key_version_id
    assert encrypt(kms, meta.key_id, b"x").key_version_id == third
    assert base64.b64decode(decrypt(kms, old.ciphertext_blob).plaintext) == b"before rotation"
    assert base64.b64decode(decrypt(kms, new.ciphertext_blob).plaintext) == b"after rotation"


@pytest.mark.parametrize("spec", ["Aliyun_AES_128", "Aliyun_SM4"])
def test_rotation_of_other_symmetric_specs(kms: Client, spec: str) -> None:
    meta = new_key(kms, key_spec=spec)
    old = encrypt(kms, meta.key_id, b"spec")
    new_version = rotate(kms, meta.key_id).key_version_id
    assert encrypt(kms, meta.key_id, b"spec").key_version_id == new_version
    assert base64.b64decode(decrypt(kms, old.ciphertext_blob).plaintext) == b"spec"


def test_key_version_actions_accept_alias_and_arn(kms: Client) -> None:
    meta = new_key(kms)
    alias = f"alias/versions-{uuid.uuid4().hex[:12]}"
    kms.create_alias(km.CreateAliasRequest(alias_name=alias, key_id=meta.key_id))
    version = rotate(kms, alias)
    assert version.key_id == meta.key_id
    for ref in (alias, meta.arn):
        assert sorted(version_ids(kms, ref)) == sorted(
            [meta.primary_key_version, version.key_version_id]
        )
        got = kms.describe_key_version(
            km.DescribeKeyVersionRequest(key_id=ref, key_version_id=version.key_version_id)
        ).body.key_version
        assert got.key_id == meta.key_id


def test_list_key_versions_pages(kms: Client) -> None:
    meta = new_key(kms)
    made = [meta.primary_key_version] + [rotate(kms, meta.key_id).key_version_id for _ in range(4)]
    seen: list[str] = []
    for number, expected in ((1, 2), (2, 2), (3, 1), (4, 0)):
        body = kms.list_key_versions(
            km.ListKeyVersionsRequest(key_id=meta.key_id, page_number=number, page_size=2)
        ).body
        assert (body.page_number, body.page_size, body.total_count) == (number, 2, 5)
        assert len(body.key_versions.key_version) == expected
        assert all(v.key_id == meta.key_id for v in body.key_versions.key_version)
        seen += [v.key_version_id for v in body.key_versions.key_version]
    assert sorted(seen) == sorted(made)


# -- UpdateRotationPolicy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [("7d", "604800s"), ("604800s", "604800s"), ("720h", "2592000s"), ("365d", "31536000s")],
)
def test_update_rotation_policy_enables_rotation(kms: Client, interval: str, seconds: str) -> None:
    meta = new_key(kms)
    assert meta.automatic_rotation == "Disabled"
    resp = kms.update_rotation_policy(
        km.UpdateRotationPolicyRequest(
            key_id=meta.key_id, enable_automatic_rotation=True, rotation_interval=interval
        )
    )
    assert resp.body.request_id
    after = describe(kms, meta.key_id)
    assert (after.automatic_rotation, after.rotation_interval) == ("Enabled", seconds)
    assert DATE.fullmatch(after.next_rotation_date)
    assert parse_date(after.next_rotation_date) > datetime.now(UTC)


def test_update_rotation_policy_disables_and_changes_the_interval(kms: Client) -> None:
    meta = new_key(kms, enable_automatic_rotation=True, rotation_interval="7d")
    assert (meta.automatic_rotation, meta.rotation_interval) == ("Enabled", "604800s")
    kms.update_rotation_policy(
        km.UpdateRotationPolicyRequest(
            key_id=meta.key_id, enable_automatic_rotation=True, rotation_interval="30d"
        )
    )
    after = describe(kms, meta.key_id)
    assert (after.automatic_rotation, after.rotation_interval) == ("Enabled", "2592000s")
    assert parse_date(after.next_rotation_date) - parse_date(after.creation_date) == timedelta(
        days=30
    )
    kms.update_rotation_policy(
        km.UpdateRotationPolicyRequest(key_id=meta.key_id, enable_automatic_rotation=False)
    )
    after = describe(kms, meta.key_id)
    assert after.automatic_rotation == "Disabled"
    assert not after.next_rotation_date


@pytest.mark.parametrize("interval", ["1d", "6d", "366d", "abc", "7", "d7", "-7d", "7.5d"])
def test_update_rotation_policy_rejects_bad_intervals(kms: Client, interval: str) -> None:
    meta = new_key(kms)
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.update_rotation_policy(
            km.UpdateRotationPolicyRequest(
                key_id=meta.key_id, enable_automatic_rotation=True, rotation_interval=interval
            )
        ),
    )
    assert '"RotationInterval"' in exc.message
    assert describe(kms, meta.key_id).automatic_rotation == "Disabled"


# -- errors ----------------------------------------------------------------------------------


VERSION_CALLS: list[tuple[str, Callable[[Client, str], Any]]] = [
    (
        "CreateKeyVersion",
        lambda kms, k: kms.create_key_version(km.CreateKeyVersionRequest(key_id=k)),
    ),
    (
        "DescribeKeyVersion",
        lambda kms, k: kms.describe_key_version(
            km.DescribeKeyVersionRequest(key_id=k, key_version_id=str(uuid.uuid4()))
        ),
    ),
    ("ListKeyVersions", lambda kms, k: kms.list_key_versions(km.ListKeyVersionsRequest(key_id=k))),
    (
        "UpdateRotationPolicy",
        lambda kms, k: kms.update_rotation_policy(
            km.UpdateRotationPolicyRequest(
                key_id=k, enable_automatic_rotation=True, rotation_interval="7d"
            )
        ),
    ),
]


@pytest.mark.parametrize("call", [c[1] for c in VERSION_CALLS], ids=[c[0] for c in VERSION_CALLS])
@pytest.mark.parametrize(
    "ref",
    [
        lambda meta: "key-doesnotexist0000000",
        lambda meta: f"alias/nothing-{uuid.uuid4().hex[:12]}",
        lambda meta: meta.arn.replace(f":{meta.arn.split(':')[3]}:", ":9999999999999999:"),
        lambda meta: meta.arn.replace(":cn-hangzhou:", ":cn-shanghai:"),
    ],
    ids=["unknown-id", "unknown-alias", "other-account", "other-region"],
)
def test_key_not_found(
    kms: Client, call: Callable[[Client, str], Any], ref: Callable[[Any], str]
) -> None:
    meta = new_key(kms)
    expect_error("Forbidden.KeyNotFound", 404, lambda: call(kms, ref(meta)))
    assert version_ids(kms, meta.key_id) == [meta.primary_key_version]


def test_key_version_not_found(kms: Client) -> None:
    meta, other = new_key(kms), new_key(kms)
    for version_id in (str(uuid.uuid4()), other.primary_key_version, "not-a-version"):
        expect_error(
            "Forbidden.KeyVersionNotFound",
            404,
            lambda v=version_id: kms.describe_key_version(
                km.DescribeKeyVersionRequest(key_id=meta.key_id, key_version_id=v)
            ),
        )


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("KeyId", lambda kms, k: kms.create_key_version(km.CreateKeyVersionRequest())),
        ("KeyId", lambda kms, k: kms.list_key_versions(km.ListKeyVersionsRequest())),
        (
            "KeyId",
            lambda kms, k: kms.describe_key_version(
                km.DescribeKeyVersionRequest(key_version_id=str(uuid.uuid4()))
            ),
        ),
        (
            "KeyVersionId",
            lambda kms, k: kms.describe_key_version(km.DescribeKeyVersionRequest(key_id=k)),
        ),
        (
            "KeyId",
            lambda kms, k: kms.update_rotation_policy(
                km.UpdateRotationPolicyRequest(enable_automatic_rotation=False)
            ),
        ),
        (
            "EnableAutomaticRotation",
            lambda kms, k: kms.update_rotation_policy(
                km.UpdateRotationPolicyRequest(key_id=k, rotation_interval="7d")
            ),
        ),
    ],
    ids=[
        "CreateKeyVersion",
        "ListKeyVersions",
        "DescribeKeyVersion-KeyId",
        "DescribeKeyVersion-KeyVersionId",
        "UpdateRotationPolicy-KeyId",
        "UpdateRotationPolicy-Enable",
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
def test_list_key_versions_paging_out_of_range(
    kms: Client, fields: dict[str, int], name: str
) -> None:
    key_id = new_key(kms).key_id
    exc = expect_error(
        "InvalidParameter",
        400,
        lambda: kms.list_key_versions(km.ListKeyVersionsRequest(key_id=key_id, **fields)),
    )
    assert f'"{name}"' in exc.message


def test_create_key_version_on_a_pending_deletion_key_is_refused(kms: Client) -> None:
    meta = new_key(kms)
    kms.schedule_key_deletion(
        km.ScheduleKeyDeletionRequest(key_id=meta.key_id, pending_window_in_days=7)
    )
    with pytest.raises(ClientException) as info:
        rotate(kms, meta.key_id)
    # The state table does not list CreateKeyVersion; any key-state conflict (409) is acceptable.
    assert info.value.status_code == 409
    assert info.value.code.startswith("Rejected.")
    assert version_ids(kms, meta.key_id) == [meta.primary_key_version]
