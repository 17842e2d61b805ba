"""Every supported action through the official OLD SDK (``aliyun-python-sdk-kms`` request
classes, RPC signature V1), with its JSON response and its error surface (``ServerException``)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import RpcRequest
from aliyunsdkkms.request.v20160120.CancelKeyDeletionRequest import CancelKeyDeletionRequest
from aliyunsdkkms.request.v20160120.CreateAliasRequest import CreateAliasRequest
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.CreateKeyVersionRequest import CreateKeyVersionRequest
from aliyunsdkkms.request.v20160120.DecryptRequest import DecryptRequest
from aliyunsdkkms.request.v20160120.DeleteAliasRequest import DeleteAliasRequest
from aliyunsdkkms.request.v20160120.DescribeAccountKmsStatusRequest import (
    DescribeAccountKmsStatusRequest,
)
from aliyunsdkkms.request.v20160120.DescribeKeyRequest import DescribeKeyRequest
from aliyunsdkkms.request.v20160120.DescribeKeyVersionRequest import DescribeKeyVersionRequest
from aliyunsdkkms.request.v20160120.DescribeRegionsRequest import DescribeRegionsRequest
from aliyunsdkkms.request.v20160120.DisableKeyRequest import DisableKeyRequest
from aliyunsdkkms.request.v20160120.EnableKeyRequest import EnableKeyRequest
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest
from aliyunsdkkms.request.v20160120.GenerateDataKeyRequest import GenerateDataKeyRequest
from aliyunsdkkms.request.v20160120.GenerateDataKeyWithoutPlaintextRequest import (
    GenerateDataKeyWithoutPlaintextRequest,
)
from aliyunsdkkms.request.v20160120.ListAliasesByKeyIdRequest import ListAliasesByKeyIdRequest
from aliyunsdkkms.request.v20160120.ListAliasesRequest import ListAliasesRequest
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest
from aliyunsdkkms.request.v20160120.ListKeyVersionsRequest import ListKeyVersionsRequest
from aliyunsdkkms.request.v20160120.ListResourceTagsRequest import ListResourceTagsRequest
from aliyunsdkkms.request.v20160120.ListTagResourcesRequest import ListTagResourcesRequest
from aliyunsdkkms.request.v20160120.OpenKmsServiceRequest import OpenKmsServiceRequest
from aliyunsdkkms.request.v20160120.ReEncryptRequest import ReEncryptRequest
from aliyunsdkkms.request.v20160120.ScheduleKeyDeletionRequest import ScheduleKeyDeletionRequest
from aliyunsdkkms.request.v20160120.SetDeletionProtectionRequest import (
    SetDeletionProtectionRequest,
)
from aliyunsdkkms.request.v20160120.TagResourceRequest import TagResourceRequest
from aliyunsdkkms.request.v20160120.TagResourcesRequest import TagResourcesRequest
from aliyunsdkkms.request.v20160120.UntagResourceRequest import UntagResourceRequest
from aliyunsdkkms.request.v20160120.UntagResourcesRequest import UntagResourcesRequest
from aliyunsdkkms.request.v20160120.UpdateAliasRequest import UpdateAliasRequest
from aliyunsdkkms.request.v20160120.UpdateKeyDescriptionRequest import (
    UpdateKeyDescriptionRequest,
)
from aliyunsdkkms.request.v20160120.UpdateRotationPolicyRequest import (
    UpdateRotationPolicyRequest,
)

from tests.compat.sdk import OldSdk, b64, new_sdk
from tests.conftest import ServerProcess

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
ARN = re.compile(r"acs:kms:cn-hangzhou:[0-9]+:key/(.+)")
MISSING_KEY = "key-doesnotexist-0000-0000-0000-000000000000"


def call(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> dict[str, Any]:
    """Build ``request_class`` with ``set_<Name>(value)`` for each param, send it, return JSON."""
    request = request_class()
    for name, value in params.items():
        getattr(request, f"set_{name}")(value)
    result = old.call(request)
    assert REQUEST_ID.fullmatch(result["RequestId"]), result
    return result


def fails(old: OldSdk, request_class: type[RpcRequest], **params: Any) -> ServerException:
    """Send the request and return the ``ServerException`` the old SDK raised."""
    with pytest.raises(ServerException) as info:
        call(old, request_class, **params)
    exc = info.value
    assert REQUEST_ID.fullmatch(exc.get_request_id() or ""), exc
    return exc


def new_key(old: OldSdk, **params: Any) -> dict[str, Any]:
    """CreateKey → KeyMetadata."""
    metadata: dict[str, Any] = call(old, CreateKeyRequest, **params)["KeyMetadata"]
    return metadata


def describe(old: OldSdk, key_id: str) -> dict[str, Any]:
    """DescribeKey → KeyMetadata."""
    metadata: dict[str, Any] = call(old, DescribeKeyRequest, KeyId=key_id)["KeyMetadata"]
    return metadata


def unique_alias() -> str:
    return f"alias/old-sdk-{uuid.uuid4().hex[:12]}"


# -- key management ----------------------------------------------------------------------------


def test_create_key_returns_full_metadata(old: OldSdk) -> None:
    meta = new_key(
        old,
        Description="made by the old SDK",
        KeySpec="Aliyun_AES_256",
        KeyUsage="ENCRYPT/DECRYPT",
        Origin="Aliyun_KMS",
        ProtectionLevel="SOFTWARE",
        EnableAutomaticRotation=True,
        RotationInterval="604800s",
        Tags=json.dumps([{"TagKey": "team", "TagValue": "infra"}]),
    )
    arn = ARN.fullmatch(meta["Arn"])
    assert arn is not None and arn.group(1) == meta["KeyId"]
    assert meta["KeyState"] == "Enabled"
    assert meta["KeySpec"] == "Aliyun_AES_256"
    assert meta["KeyUsage"] == "ENCRYPT/DECRYPT"
    assert meta["Origin"] == "Aliyun_KMS"
    assert meta["ProtectionLevel"] == "SOFTWARE"
    assert meta["Description"] == "made by the old SDK"
    assert meta["AutomaticRotation"] == "Enabled"
    assert meta["RotationInterval"] == "604800s"
    assert DATE.fullmatch(meta["CreationDate"])
    assert DATE.fullmatch(meta["NextRotationDate"])
    assert meta["PrimaryKeyVersion"]
    assert meta["DeleteDate"] == ""
    assert meta["Creator"]


def test_describe_key_by_id_arn_and_alias(old: OldSdk) -> None:
    created = new_key(old)
    by_id = describe(old, created["KeyId"])
    for field in ("KeyId", "Arn", "KeyState", "KeySpec", "KeyUsage", "CreationDate", "Creator"):
        assert by_id[field] == created[field], field
    assert by_id["DeletionProtection"] == "Disabled"
    assert by_id["AutomaticRotation"] == "Disabled"
    assert by_id["RotationInterval"] == ""
    assert by_id["NextRotationDate"] == ""
    assert describe(old, created["Arn"])["KeyId"] == created["KeyId"]
    alias = unique_alias()
    call(old, CreateAliasRequest, AliasName=alias, KeyId=created["KeyId"])
    assert describe(old, alias)["KeyId"] == created["KeyId"]


def test_list_keys_with_filters(old: OldSdk) -> None:
    enabled = new_key(old)["KeyId"]
    disabled = new_key(old)["KeyId"]
    call(old, DisableKeyRequest, KeyId=disabled)
    both = {"Key": "keyId", "Values": [enabled, disabled]}

    result = call(
        old,
        ListKeysRequest,
        Filters=json.dumps([both, {"Key": "KeyState", "Values": ["Disabled"]}]),
        PageNumber=1,
        PageSize=10,
    )
    assert result["Keys"]["Key"] == [{"KeyId": disabled, "KeyArn": describe(old, disabled)["Arn"]}]
    assert (result["TotalCount"], result["PageNumber"], result["PageSize"]) == (1, 1, 10)

    result = call(old, ListKeysRequest, Filters=json.dumps([both]), PageSize=1, PageNumber=2)
    assert result["TotalCount"] == 2
    assert (result["PageNumber"], result["PageSize"]) == (2, 1)
    assert len(result["Keys"]["Key"]) == 1

    unfiltered = call(old, ListKeysRequest, PageSize=100)
    assert unfiltered["TotalCount"] >= 2
    assert unfiltered["PageNumber"] == 1


def test_disable_and_enable_key(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    assert call(old, DisableKeyRequest, KeyId=key_id).keys() == {"RequestId"}
    assert describe(old, key_id)["KeyState"] == "Disabled"
    assert call(old, EnableKeyRequest, KeyId=key_id).keys() == {"RequestId"}
    assert describe(old, key_id)["KeyState"] == "Enabled"


def test_schedule_and_cancel_key_deletion(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    assert call(old, ScheduleKeyDeletionRequest, KeyId=key_id, PendingWindowInDays=7).keys() == {
        "RequestId"
    }
    meta = describe(old, key_id)
    assert meta["KeyState"] == "PendingDeletion"
    assert DATE.fullmatch(meta["DeleteDate"])
    assert call(old, CancelKeyDeletionRequest, KeyId=key_id).keys() == {"RequestId"}
    meta = describe(old, key_id)
    assert meta["KeyState"] == "Enabled"
    assert meta["DeleteDate"] == ""


def test_update_key_description(old: OldSdk) -> None:
    key_id = new_key(old, Description="before")["KeyId"]
    result = call(old, UpdateKeyDescriptionRequest, KeyId=key_id, Description="after: ü & +")
    assert result.keys() == {"RequestId"}
    assert describe(old, key_id)["Description"] == "after: ü & +"


def test_set_deletion_protection_by_arn(old: OldSdk) -> None:
    meta = new_key(old)
    result = call(
        old,
        SetDeletionProtectionRequest,
        ProtectedResourceArn=meta["Arn"],
        EnableDeletionProtection=True,
        DeletionProtectionDescription="keep me",
    )
    assert result.keys() == {"RequestId"}
    described = describe(old, meta["KeyId"])
    assert described["DeletionProtection"] == "Enabled"
    assert described["DeletionProtectionDescription"] == "keep me"
    exc = fails(old, ScheduleKeyDeletionRequest, KeyId=meta["KeyId"], PendingWindowInDays=7)
    assert (exc.get_error_code(), exc.get_http_status()) == ("Rejected.StateModifiedFailed", 409)

    call(
        old,
        SetDeletionProtectionRequest,
        ProtectedResourceArn=meta["Arn"],
        EnableDeletionProtection=False,
    )
    assert describe(old, meta["KeyId"])["DeletionProtection"] == "Disabled"
    call(old, ScheduleKeyDeletionRequest, KeyId=meta["KeyId"], PendingWindowInDays=7)
    assert describe(old, meta["KeyId"])["KeyState"] == "PendingDeletion"


# -- aliases -----------------------------------------------------------------------------------


def _all_aliases(old: OldSdk) -> list[dict[str, str]]:
    aliases: list[dict[str, str]] = []
    page = 1
    while True:
        result = call(old, ListAliasesRequest, PageNumber=page, PageSize=100)
        aliases.extend(result["Aliases"]["Alias"])
        if len(aliases) >= result["TotalCount"]:
            return aliases
        page += 1


def test_alias_lifecycle(old: OldSdk) -> None:
    first = new_key(old)
    second = new_key(old)
    alias = unique_alias()
    alias_arn = first["Arn"].replace(f"key/{first['KeyId']}", alias)

    assert call(old, CreateAliasRequest, AliasName=alias, KeyId=first["KeyId"]).keys() == {
        "RequestId"
    }
    listed = call(old, ListAliasesByKeyIdRequest, KeyId=first["KeyId"], PageSize=10)
    assert listed["Aliases"]["Alias"] == [
        {"AliasName": alias, "AliasArn": alias_arn, "KeyId": first["KeyId"]}
    ]
    assert (listed["TotalCount"], listed["PageNumber"], listed["PageSize"]) == (1, 1, 10)
    assert {"AliasName": alias, "AliasArn": alias_arn, "KeyId": first["KeyId"]} in _all_aliases(old)
    blob = call(old, EncryptRequest, KeyId=alias, Plaintext=b64(b"via alias"))
    assert blob["KeyId"] == first["KeyId"]

    assert call(old, UpdateAliasRequest, AliasName=alias, KeyId=second["KeyId"]).keys() == {
        "RequestId"
    }
    assert call(old, ListAliasesByKeyIdRequest, KeyId=first["KeyId"])["Aliases"]["Alias"] == []
    moved = call(old, ListAliasesByKeyIdRequest, KeyId=second["KeyId"])["Aliases"]["Alias"]
    assert [a["AliasName"] for a in moved] == [alias]
    assert describe(old, alias)["KeyId"] == second["KeyId"]

    assert call(old, DeleteAliasRequest, AliasName=alias).keys() == {"RequestId"}
    assert call(old, ListAliasesByKeyIdRequest, KeyId=second["KeyId"])["TotalCount"] == 0
    assert alias not in {a["AliasName"] for a in _all_aliases(old)}
    exc = fails(old, DeleteAliasRequest, AliasName=alias)
    assert (exc.get_error_code(), exc.get_http_status()) == ("Forbidden.AliasNotFound", 404)


# -- versions and rotation ---------------------------------------------------------------------


def test_key_versions(old: OldSdk) -> None:
    meta = new_key(old)
    key_id, first = meta["KeyId"], meta["PrimaryKeyVersion"]
    created = call(old, CreateKeyVersionRequest, KeyId=key_id)["KeyVersion"]
    assert created["KeyId"] == key_id
    assert created["KeyVersionId"] != first
    assert DATE.fullmatch(created["CreationDate"])
    assert describe(old, key_id)["PrimaryKeyVersion"] == created["KeyVersionId"]

    described = call(
        old, DescribeKeyVersionRequest, KeyId=key_id, KeyVersionId=created["KeyVersionId"]
    )
    assert described["KeyVersion"] == created

    listed = call(old, ListKeyVersionsRequest, KeyId=key_id, PageNumber=1, PageSize=10)
    assert (listed["TotalCount"], listed["PageNumber"], listed["PageSize"]) == (2, 1, 10)
    versions = listed["KeyVersions"]["KeyVersion"]
    assert {v["KeyVersionId"] for v in versions} == {first, created["KeyVersionId"]}
    assert all(v["KeyId"] == key_id and DATE.fullmatch(v["CreationDate"]) for v in versions)

    encrypted = call(old, EncryptRequest, KeyId=key_id, Plaintext=b64(b"v2"))
    assert encrypted["KeyVersionId"] == created["KeyVersionId"]

    exc = fails(old, DescribeKeyVersionRequest, KeyId=key_id, KeyVersionId=str(uuid.uuid4()))
    assert (exc.get_error_code(), exc.get_http_status()) == ("Forbidden.KeyVersionNotFound", 404)


def test_update_rotation_policy(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    result = call(
        old,
        UpdateRotationPolicyRequest,
        KeyId=key_id,
        EnableAutomaticRotation=True,
        RotationInterval="30d",
    )
    assert result.keys() == {"RequestId"}
    meta = describe(old, key_id)
    assert meta["AutomaticRotation"] == "Enabled"
    assert meta["RotationInterval"] == "2592000s"
    assert DATE.fullmatch(meta["NextRotationDate"])

    call(old, UpdateRotationPolicyRequest, KeyId=key_id, EnableAutomaticRotation=False)
    meta = describe(old, key_id)
    assert meta["AutomaticRotation"] == "Disabled"
    assert meta["NextRotationDate"] == ""


# -- tags --------------------------------------------------------------------------------------


def _resource_tags(old: OldSdk, key_id: str) -> dict[str, str]:
    tags = call(old, ListResourceTagsRequest, KeyId=key_id)["Tags"]["Tag"]
    assert all(tag["KeyId"] == key_id for tag in tags)
    return {tag["TagKey"]: tag["TagValue"] for tag in tags}


def test_tag_one_resource(old: OldSdk) -> None:
    key_id = new_key(old, Tags=json.dumps([{"TagKey": "created", "TagValue": "yes"}]))["KeyId"]
    assert _resource_tags(old, key_id) == {"created": "yes"}
    tags = [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "a b"}]
    assert call(old, TagResourceRequest, KeyId=key_id, Tags=json.dumps(tags)).keys() == {
        "RequestId"
    }
    assert _resource_tags(old, key_id) == {"created": "yes", "env": "prod", "team": "a b"}
    result = call(old, UntagResourceRequest, KeyId=key_id, TagKeys=json.dumps(["env", "created"]))
    assert result.keys() == {"RequestId"}
    assert _resource_tags(old, key_id) == {"team": "a b"}


def _tag_rows(old: OldSdk, key_ids: list[str]) -> set[tuple[str, str, str, str]]:
    result = call(old, ListTagResourcesRequest, ResourceIds=key_ids, ResourceType="key")
    assert "NextToken" not in result
    return {
        (r["ResourceId"], r["ResourceType"], r["TagKey"], r["TagValue"])
        for r in result["TagResources"]["TagResource"]
    }


def test_tag_resources_in_batch(old: OldSdk) -> None:
    first, second = new_key(old)["KeyId"], new_key(old)["KeyId"]
    keys = [first, second]
    result = call(
        old,
        TagResourcesRequest,
        ResourceIds=keys,
        ResourceType="key",
        Tags=[{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "ops"}],
    )
    assert result.keys() == {"RequestId"}
    assert _tag_rows(old, keys) == {
        (k, "key", tag, value) for k in keys for tag, value in (("env", "dev"), ("owner", "ops"))
    }
    filtered = call(
        old,
        ListTagResourcesRequest,
        ResourceType="key",
        ResourceIds=keys,
        Tags=[{"Key": "owner", "Value": "ops"}],
    )["TagResources"]["TagResource"]
    assert sorted(r["ResourceId"] for r in filtered) == sorted(keys)
    assert {r["TagKey"] for r in filtered} == {"owner"}

    result = call(old, UntagResourcesRequest, ResourceIds=keys, ResourceType="key", TagKeys=["env"])
    assert result.keys() == {"RequestId"}
    assert _tag_rows(old, keys) == {(k, "key", "owner", "ops") for k in keys}
    assert _resource_tags(old, first) == {"owner": "ops"}

    call(old, UntagResourcesRequest, ResourceIds=[second], ResourceType="key", All=True)
    assert _tag_rows(old, keys) == {(first, "key", "owner", "ops")}


# -- cryptography ------------------------------------------------------------------------------


def test_encrypt_and_decrypt(old: OldSdk) -> None:
    meta = new_key(old)
    context = json.dumps({"app": "billing", "tenant": "ü 1"})
    encrypted = call(
        old,
        EncryptRequest,
        KeyId=meta["KeyId"],
        Plaintext=b64(b"secret"),
        EncryptionContext=context,
    )
    assert encrypted["KeyId"] == meta["KeyId"]
    assert encrypted["KeyVersionId"] == meta["PrimaryKeyVersion"]
    base64.b64decode(encrypted["CiphertextBlob"], validate=True)
    decrypted = call(
        old,
        DecryptRequest,
        CiphertextBlob=encrypted["CiphertextBlob"],
        EncryptionContext=context,
    )
    assert base64.b64decode(decrypted["Plaintext"]) == b"secret"
    assert decrypted["KeyId"] == meta["KeyId"]
    assert decrypted["KeyVersionId"] == meta["PrimaryKeyVersion"]


def test_generate_data_key(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    context = json.dumps({"purpose": "envelope"})
    result = call(
        old, GenerateDataKeyRequest, KeyId=key_id, KeySpec="AES_128", EncryptionContext=context
    )
    assert result.keys() == {"RequestId", "KeyId", "KeyVersionId", "CiphertextBlob", "Plaintext"}
    data_key = base64.b64decode(result["Plaintext"])
    assert len(data_key) == 16
    assert result["KeyId"] == key_id
    opened = call(
        old, DecryptRequest, CiphertextBlob=result["CiphertextBlob"], EncryptionContext=context
    )
    assert base64.b64decode(opened["Plaintext"]) == data_key

    sized = call(old, GenerateDataKeyRequest, KeyId=key_id, NumberOfBytes=48)
    assert len(base64.b64decode(sized["Plaintext"])) == 48
    assert len(base64.b64decode(call(old, GenerateDataKeyRequest, KeyId=key_id)["Plaintext"])) == 32


def test_generate_data_key_without_plaintext(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    result = call(old, GenerateDataKeyWithoutPlaintextRequest, KeyId=key_id, NumberOfBytes=24)
    assert result.keys() == {"RequestId", "KeyId", "KeyVersionId", "CiphertextBlob"}
    assert result["KeyId"] == key_id
    opened = call(old, DecryptRequest, CiphertextBlob=result["CiphertextBlob"])
    assert len(base64.b64decode(opened["Plaintext"])) == 24


def test_re_encrypt(old: OldSdk) -> None:
    source, destination = new_key(old), new_key(old)
    blob = call(
        old,
        EncryptRequest,
        KeyId=source["KeyId"],
        Plaintext=b64(b"move me"),
        EncryptionContext='{"from":"a"}',
    )["CiphertextBlob"]
    result = call(
        old,
        ReEncryptRequest,
        CiphertextBlob=blob,
        SourceEncryptionContext='{"from":"a"}',
        DestinationKeyId=destination["KeyId"],
        DestinationEncryptionContext='{"to":"b"}',
    )
    assert result["KeyId"] == destination["KeyId"]
    assert result["KeyVersionId"] == destination["PrimaryKeyVersion"]
    opened = call(
        old, DecryptRequest, CiphertextBlob=result["CiphertextBlob"], EncryptionContext='{"to":"b"}'
    )
    assert base64.b64decode(opened["Plaintext"]) == b"move me"
    assert opened["KeyId"] == destination["KeyId"]


# -- account and service -----------------------------------------------------------------------


def test_describe_regions(old: OldSdk) -> None:
    assert call(old, DescribeRegionsRequest)["Regions"] == {"Region": [{"RegionId": "cn-hangzhou"}]}


def test_account_status_and_open_service(old: OldSdk) -> None:
    assert call(old, DescribeAccountKmsStatusRequest)["AccountStatus"] == "Enabled"
    exc = fails(old, OpenKmsServiceRequest)
    assert (exc.get_error_code(), exc.get_http_status()) == ("Forbidden.Opened", 403)


# -- errors ------------------------------------------------------------------------------------


def test_unknown_key_is_forbidden_key_not_found(old: OldSdk) -> None:
    for request_class, params in (
        (DescribeKeyRequest, {"KeyId": MISSING_KEY}),
        (EncryptRequest, {"KeyId": MISSING_KEY, "Plaintext": b64(b"x")}),
        (EncryptRequest, {"KeyId": "alias/no-such-alias-anywhere", "Plaintext": b64(b"x")}),
        (EnableKeyRequest, {"KeyId": MISSING_KEY}),
    ):
        exc = fails(old, request_class, **params)
        assert (exc.get_error_code(), exc.get_http_status()) == ("Forbidden.KeyNotFound", 404)
        assert exc.get_error_msg() == "The specified Key is not found."


def test_encrypt_with_disabled_key_is_rejected(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    call(old, DisableKeyRequest, KeyId=key_id)
    exc = fails(old, EncryptRequest, KeyId=key_id, Plaintext=b64(b"x"))
    assert (exc.get_error_code(), exc.get_http_status()) == ("Rejected.Disabled", 409)


def test_missing_parameter(old: OldSdk) -> None:
    exc = fails(old, DescribeKeyRequest)
    assert (exc.get_error_code(), exc.get_http_status()) == ("MissingParameter", 400)
    assert exc.get_error_msg() == 'The parameter "KeyId" is needed but not provided.'
    key_id = new_key(old)["KeyId"]
    exc = fails(old, EncryptRequest, KeyId=key_id)
    assert (exc.get_error_code(), exc.get_http_status()) == ("MissingParameter", 400)
    assert '"Plaintext"' in exc.get_error_msg()


def test_invalid_parameter(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    for request_class, params, name in (
        (
            ScheduleKeyDeletionRequest,
            {"KeyId": key_id, "PendingWindowInDays": 3},
            "PendingWindowInDays",
        ),
        (EncryptRequest, {"KeyId": key_id, "Plaintext": "not base64!"}, "Plaintext"),
        (
            EncryptRequest,
            {"KeyId": key_id, "Plaintext": "eA==", "EncryptionContext": "[1]"},
            "EncryptionContext",
        ),
        (ListKeysRequest, {"Filters": '[{"Key":"Colour","Values":["red"]}]'}, "Filters"),
    ):
        exc = fails(old, request_class, **params)
        assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidParameter", 400)
        assert exc.get_error_msg().startswith(f'The specified parameter "{name}" is not valid.')
    assert describe(old, key_id)["KeyState"] == "Enabled"


def test_decrypt_with_wrong_encryption_context(old: OldSdk) -> None:
    key_id = new_key(old)["KeyId"]
    blob = call(
        old, EncryptRequest, KeyId=key_id, Plaintext=b64(b"x"), EncryptionContext='{"a":"1"}'
    )["CiphertextBlob"]
    for context in ('{"a":"2"}', '{"a":"1","b":"2"}', None):
        params = {"CiphertextBlob": blob}
        if context is not None:
            params["EncryptionContext"] = context
        exc = fails(old, DecryptRequest, **params)
        assert (exc.get_error_code(), exc.get_http_status()) == ("InvalidParameter", 400)
        assert '"CiphertextBlob"' in exc.get_error_msg()


# -- HTTPS -------------------------------------------------------------------------------------


def test_old_sdk_over_https_with_the_mamori_ca(server: ServerProcess) -> None:
    old = OldSdk(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        verify=str(server.ca_file),
    )
    assert old.protocol == "https"
    key_id = new_key(old)["KeyId"]
    blob = call(old, EncryptRequest, KeyId=key_id, Plaintext=b64(b"over tls"))["CiphertextBlob"]
    plain = call(old, DecryptRequest, CiphertextBlob=blob)["Plaintext"]
    assert base64.b64decode(plain) == b"over tls"


def test_new_sdk_over_https_with_the_mamori_ca(server: ServerProcess) -> None:
    kms = new_sdk(
        server.tls_endpoint,
        server.access_key_id,
        server.access_key_secret,
        protocol="https",
        ca=str(server.ca_file),
    )
    key_id = kms.create_key(km.CreateKeyRequest()).body.key_metadata.key_id
    blob = kms.encrypt(
        km.EncryptRequest(key_id=key_id, plaintext=b64(b"tls too"), encryption_context={"k": "v"})
    ).body.ciphertext_blob
    plain = kms.decrypt(
        km.DecryptRequest(ciphertext_blob=blob, encryption_context={"k": "v"})
    ).body.plaintext
    assert base64.b64decode(plain) == b"tls too"
