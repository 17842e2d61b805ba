"""Generic secrets through the official SDKs: values, versions and stages, metadata, listing,
deletion windows, the encryption key, and concurrent writers."""

from __future__ import annotations

import json
import threading
import uuid

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from aliyunsdkkms.request.v20160120.CreateSecretRequest import CreateSecretRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.UpdateSecretRequest import UpdateSecretRequest

from tests.compat.sdk import OldSdk, b64, expect_error


def unique() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def create(kms: Client, name: str, data: str = "v1-data", **extra: object) -> None:
    kms.create_secret(
        km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=data, **extra)
    )


def get(kms: Client, name: str, **extra: object) -> km.GetSecretValueResponseBody:
    return kms.get_secret_value(km.GetSecretValueRequest(secret_name=name, **extra)).body


def stages_of(kms: Client, name: str) -> dict[str, list[str]]:
    body = kms.list_secret_version_ids(
        km.ListSecretVersionIdsRequest(secret_name=name, include_deprecated="true")
    ).body
    return {
        v.version_id: sorted(v.version_stages.version_stage) for v in body.version_ids.version_id
    }


def test_create_get_put_and_versions(kms: Client) -> None:
    name = unique()
    created = kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_data="hello",
            description="first",
            tags=json.dumps([{"TagKey": "team", "TagValue": "blue"}]),
        )
    ).body
    assert created.arn.endswith(f":secret/{name}") and created.version_id == "v1"
    value = get(kms, name)
    assert (value.secret_data, value.version_id, value.secret_data_type) == ("hello", "v1", "text")
    assert value.version_stages.version_stage == ["ACSCurrent"] and value.create_time

    put = kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="world")
    ).body
    assert put.version_stages.version_stage == ["ACSCurrent"]
    assert get(kms, name).secret_data == "world"
    assert get(kms, name, version_stage="ACSPrevious").secret_data == "hello"
    assert get(kms, name, version_id="v1").secret_data == "hello"
    # A third version: v1 loses every stage and is listed only with IncludeDeprecated.
    kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=name, version_id="v3", secret_data="third")
    )
    assert stages_of(kms, name) == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    live = kms.list_secret_version_ids(km.ListSecretVersionIdsRequest(secret_name=name)).body
    assert {v.version_id for v in live.version_ids.version_id} == {"v2", "v3"}
    assert (live.page_size, live.total_count) == (20, 2)

    # Same VersionId and data: idempotent; other data: Rejected.ResourceExist.
    again = km.PutSecretValueRequest(secret_name=name, version_id="v3", secret_data="third")
    assert kms.put_secret_value(again).body.version_stages.version_stage == ["ACSCurrent"]
    other = km.PutSecretValueRequest(secret_name=name, version_id="v3", secret_data="other")
    expect_error("Rejected.ResourceExist", 409, lambda: kms.put_secret_value(other))
    # A custom stage only.
    kms.put_secret_value(
        km.PutSecretValueRequest(
            secret_name=name, version_id="v4", secret_data="4", version_stages='["Blue"]'
        )
    )
    assert get(kms, name).version_id == "v3"
    assert get(kms, name, version_stage="Blue").secret_data == "4"

    described = kms.describe_secret(km.DescribeSecretRequest(secret_name=name, fetch_tags="true"))
    body = described.body
    assert (body.description, body.secret_type, body.planned_delete_time) == (
        "first",
        "Generic",
        "",
    )
    assert body.encryption_key_id.startswith("key-")
    assert [(t.tag_key, t.tag_value) for t in body.tags.tag] == [("team", "blue")]


def test_update_secret_version_stage(kms: Client) -> None:
    name = unique()
    create(kms, name)
    kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="2")
    )
    move = km.UpdateSecretVersionStageRequest(
        secret_name=name, version_stage="ACSCurrent", move_to_version="v1", remove_from_version="v2"
    )
    kms.update_secret_version_stage(move)
    assert stages_of(kms, name) == {"v1": ["ACSCurrent"], "v2": ["ACSPrevious"]}
    remove = km.UpdateSecretVersionStageRequest(
        secret_name=name, version_stage="ACSCurrent", remove_from_version="v1"
    )
    expect_error(
        "Rejected.UnsupportedOperation", 400, lambda: kms.update_secret_version_stage(remove)
    )
    kms.update_secret_version_stage(
        km.UpdateSecretVersionStageRequest(
            secret_name=name, version_stage="Custom", move_to_version="v2"
        )
    )
    kms.update_secret_version_stage(
        km.UpdateSecretVersionStageRequest(
            secret_name=name, version_stage="Custom", remove_from_version="v2"
        )
    )
    assert stages_of(kms, name) == {"v1": ["ACSCurrent"], "v2": ["ACSPrevious"]}
    missing = km.UpdateSecretVersionStageRequest(
        secret_name=name, version_stage="ACSCurrent", move_to_version="nope"
    )
    expect_error(
        "Forbidden.ResourceNotFound", 404, lambda: kms.update_secret_version_stage(missing)
    )


def test_binary_data_and_the_30_kb_limit(kms: Client) -> None:
    name = unique()
    data = bytes(range(256)) * 120  # 30 720 bytes: exactly the limit
    create(kms, name, data=b64(data), secret_data_type="binary")
    value = get(kms, name)
    assert (value.secret_data, value.secret_data_type) == (b64(data), "binary")
    too_big = km.PutSecretValueRequest(
        secret_name=name, version_id="v2", secret_data="x" * (30 * 1024 + 1)
    )
    expect_error("InvalidParameter", 400, lambda: kms.put_secret_value(too_big))
    bad = km.CreateSecretRequest(
        secret_name=unique(), version_id="v1", secret_data="*not base64*", secret_data_type="binary"
    )
    expect_error("InvalidParameter", 400, lambda: kms.create_secret(bad))


def test_error_codes(kms: Client) -> None:
    name = unique()
    create(kms, name)
    expect_error("Rejected.ResourceExist", 409, lambda: create(kms, name))
    expect_error("Forbidden.ResourceNotFound", 404, lambda: get(kms, unique()))
    expect_error("Forbidden.ResourceNotFound", 404, lambda: get(kms, name, version_id="nope"))
    expect_error("InvalidParameter", 400, lambda: create(kms, "acs/reserved"))
    expect_error("InvalidParameter", 400, lambda: create(kms, "bad name!"))
    no_version = km.CreateSecretRequest(secret_name=unique(), secret_data="x")
    expect_error("MissingParameter", 400, lambda: kms.create_secret(no_version))
    expect_error("DryRunOperationError", 400, lambda: get(kms, name, dry_run="true"))


def test_delete_window_restore_and_force(kms: Client) -> None:
    name = unique()
    create(kms, name)
    deleted = kms.delete_secret(
        km.DeleteSecretRequest(secret_name=name, recovery_window_in_days="7")
    ).body
    assert deleted.planned_delete_time
    expect_error("Rejected.ResourceInDeleteWindow", 409, lambda: create(kms, name))
    expect_error("Rejected.ResourceInDeleteWindow", 409, lambda: get(kms, name))
    body = kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body
    assert body.planned_delete_time == deleted.planned_delete_time
    kms.restore_secret(km.RestoreSecretRequest(secret_name=name))
    assert get(kms, name).secret_data == "v1-data"
    bad_window = km.DeleteSecretRequest(secret_name=name, recovery_window_in_days="3")
    expect_error("InvalidParameter", 400, lambda: kms.delete_secret(bad_window))
    kms.delete_secret(
        km.DeleteSecretRequest(secret_name=name, force_delete_without_recovery="true")
    )
    expect_error("Forbidden.ResourceNotFound", 404, lambda: get(kms, name))
    create(kms, name, data="reborn")
    assert get(kms, name).secret_data == "reborn"


def test_update_secret_and_list(kms: Client) -> None:
    name = unique()
    create(kms, name, description="old", tags=json.dumps([{"TagKey": "env", "TagValue": name}]))
    kms.update_secret(
        km.UpdateSecretRequest(
            secret_name=name,
            description="new",
            extended_config=km.UpdateSecretRequestExtendedConfig(custom_data={"a": "1"}),
        )
    )
    assert kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body.description == "new"
    config = get(kms, name, fetch_extended_config=True).extended_config
    assert json.loads(config) == {"CustomData": {"a": "1"}}

    def listed(filters: list[dict[str, object]]) -> list[str]:
        body = kms.list_secrets(
            km.ListSecretsRequest(filters=json.dumps(filters), fetch_tags="true", page_size=100)
        ).body
        return [s.secret_name for s in body.secret_list.secret]

    assert listed([{"Key": "SecretName", "Values": [name]}]) == [name]
    assert listed([{"Key": "TagValue", "Values": [name]}]) == [name]
    by_name = {"Key": "SecretName", "Values": [name]}
    assert listed([{"Key": "Description", "Values": ["new"]}, by_name]) == [name]
    assert listed([by_name, {"Key": "TagKey", "Values": ["no"]}]) == []
    page = kms.list_secrets(km.ListSecretsRequest(page_size=1)).body
    assert page.page_size == 1 and len(page.secret_list.secret) == 1 and page.total_count >= 1


def test_disabled_encryption_key_blocks_reads(kms: Client) -> None:
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    name = unique()
    create(kms, name, encryption_key_id=key_id)
    body = kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body
    assert body.encryption_key_id == key_id
    kms.disable_key(km.DisableKeyRequest(key_id=key_id))
    try:
        expect_error("Rejected.Disabled", 409, lambda: get(kms, name))
    finally:
        kms.enable_key(km.EnableKeyRequest(key_id=key_id))
    assert get(kms, name).secret_data == "v1-data"
    unknown = "key-doesnotexist0000000000"
    expect_error(
        "Forbidden.KeyNotFound", 404, lambda: create(kms, unique(), encryption_key_id=unknown)
    )


def test_concurrent_puts_leave_exactly_one_current(kms: Client) -> None:
    name = unique()
    create(kms, name)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def put(version: str) -> None:
        try:
            barrier.wait()
            kms.put_secret_value(
                km.PutSecretValueRequest(secret_name=name, version_id=version, secret_data=version)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stages = stages_of(kms, name)
    assert sum("ACSCurrent" in s for s in stages.values()) == 1
    assert sum("ACSPrevious" in s for s in stages.values()) == 1
    assert get(kms, name).secret_data == get(kms, name).version_id


def test_old_sdk(old: OldSdk) -> None:
    name = unique()
    request = CreateSecretRequest()
    request.set_SecretName(name)
    request.set_VersionId("v1")
    request.set_SecretData("old-sdk-value")
    assert old.call(request)["SecretName"] == name
    put = PutSecretValueRequest()
    put.set_SecretName(name)
    put.set_VersionId("v2")
    put.set_SecretData("second")
    put.set_VersionStages('["ACSCurrent"]')
    assert old.call(put)["VersionStages"]["VersionStage"] == ["ACSCurrent"]
    update = UpdateSecretRequest()
    update.set_SecretName(name)
    update.set_ExtendedConfigCustomData(json.dumps({"k": "v"}))
    old.call(update)
    read = GetSecretValueRequest()
    read.set_SecretName(name)
    read.set_FetchExtendedConfig(True)
    body = old.call(read)
    assert (body["SecretData"], body["VersionId"]) == ("second", "v2")
    assert json.loads(body["ExtendedConfig"]) == {"CustomData": {"k": "v"}}
