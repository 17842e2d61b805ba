"""Managed data keys through the new SDK (GetManagedDataKey, ListManagedDataKeyVersions; the old
SDK has neither) and Mamori's extensions that make them (the SDK core's generic call), and
GetChallenge."""

from __future__ import annotations

import base64
import json

from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.asym_helpers import create_key
from tests.compat.instance_helpers import call, generic
from tests.compat.ram_helpers import allow, deny, doc, grant, new_user, unique
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess


def _make(server: ServerProcess, key: str, size: int | None = None) -> tuple[str, str]:
    name = unique("dk")
    query = {"DataKeyName": name, "KeyId": key}
    if size is not None:
        query["NumberOfBytes"] = str(size)
    made = call(generic(server), "CreateManagedDataKey", **query)
    return name, str(made["DataKeyVersionId"])


def test_versions_first_latest_and_by_id(server: ServerProcess, kms: Client) -> None:
    key, _version = create_key(kms, "Aliyun_AES_256")
    name, first = _make(server, key)
    second = str(
        call(generic(server), "RotateManagedDataKey", DataKeyName=name)["DataKeyVersionId"]
    )
    third = str(call(generic(server), "RotateManagedDataKey", DataKeyName=name)["DataKeyVersionId"])
    assert len({first, second, third}) == 3 and all(len(v) == 8 for v in (first, second))

    got = kms.get_managed_data_key(km.GetManagedDataKeyRequest(data_key_name=name)).body
    assert (got.data_key_name, got.data_key_version_id) == (name, first)
    assert got.data_key_version_name == f"kms-datakeyversion!{name}!{first}"
    plain_first = base64.b64decode(got.plaintext)
    assert len(plain_first) == 32
    latest = kms.get_managed_data_key(
        km.GetManagedDataKeyRequest(data_key_name=name, use_latest=True)
    ).body
    assert latest.data_key_version_id == third
    by_id = kms.get_managed_data_key(
        km.GetManagedDataKeyRequest(data_key_name=name, data_key_version_id=first)
    ).body
    assert base64.b64decode(by_id.plaintext) == plain_first
    assert base64.b64decode(latest.plaintext) != plain_first

    listed = kms.list_managed_data_key_versions(
        km.ListManagedDataKeyVersionsRequest(data_key_name=name, page_size=2)
    ).body
    assert (listed.data_key_name, listed.total_count, listed.page_number, listed.page_size) == (
        name,
        3,
        1,
        2,
    )
    rows = listed.managed_data_key_versions.managed_data_key_version
    assert [r.data_key_version_id for r in rows] == [first, second]
    page2 = kms.list_managed_data_key_versions(
        km.ListManagedDataKeyVersionsRequest(data_key_name=name, page_size=2, page_number=2)
    ).body
    assert [
        r.data_key_version_id for r in page2.managed_data_key_versions.managed_data_key_version
    ] == [third]


def test_size_and_errors(server: ServerProcess, kms: Client) -> None:
    key, _version = create_key(kms, "Aliyun_AES_256")
    name, _first = _make(server, key, size=16)
    got = kms.get_managed_data_key(km.GetManagedDataKeyRequest(data_key_name=name)).body
    assert len(base64.b64decode(got.plaintext)) == 16
    missing = ("Forbidden.ResourceNotFound", 404)
    expect_error(*missing, lambda: kms.get_managed_data_key(
        km.GetManagedDataKeyRequest(data_key_name=unique("none"))))  # fmt: skip
    expect_error(*missing, lambda: kms.get_managed_data_key(
        km.GetManagedDataKeyRequest(data_key_name=name, data_key_version_id="absent")))  # fmt: skip
    expect_error(*missing, lambda: kms.list_managed_data_key_versions(
        km.ListManagedDataKeyVersionsRequest(data_key_name=unique("none"))))  # fmt: skip
    expect_error("MissingParameter", 400, lambda: kms.get_managed_data_key(
        km.GetManagedDataKeyRequest()))  # fmt: skip
    expect_error("InvalidParameter", 400, lambda: kms.list_managed_data_key_versions(
        km.ListManagedDataKeyVersionsRequest(data_key_name=name, page_size=101)))  # fmt: skip
    client = generic(server)
    for code, status, query in (
        ("Rejected.ResourceExist", 409, {"DataKeyName": name}),
        ("InvalidParameter", 400, {"DataKeyName": "bad name!"}),
        ("InvalidParameter", 400, {"DataKeyName": unique("dk"), "NumberOfBytes": "2048"}),
    ):
        made = {**query, "KeyId": key}
        expect_error(code, status, lambda q=made: call(client, "CreateManagedDataKey", **q))
    # The data key needs its KMS key: disabled key → the key's state error, nothing read.
    kms.disable_key(km.DisableKeyRequest(key_id=key))
    expect_error("Rejected.Disabled", 409, lambda: kms.get_managed_data_key(
        km.GetManagedDataKeyRequest(data_key_name=name)))  # fmt: skip
    kms.enable_key(km.EnableKeyRequest(key_id=key))


def test_reading_needs_the_data_key_and_its_kms_key(
    server: ServerProcess, kms: Client, ram: RamClient
) -> None:
    key, _version = create_key(kms, "Aliyun_AES_256")
    name, _first = _make(server, key)
    key_arn = kms.describe_key(km.DescribeKeyRequest(key_id=key)).body.key_metadata.arn
    data_key_arn = key_arn.rsplit(":", 1)[0] + f":datakey/{name}"
    user = new_user(server, ram, "dk")
    grant(ram, user.name, doc(allow("kms:*"), deny("kms:Decrypt", [key_arn])))
    query = {"DataKeyName": name}
    expect_error("Forbidden.NoPermission", 403,
                 lambda: user.call("GetManagedDataKey", "2016-01-20", query))  # fmt: skip
    other = new_user(server, ram, "dk")
    grant(ram, other.name, doc(allow("kms:*"), deny("kms:*", [data_key_arn])))
    for action in ("GetManagedDataKey", "ListManagedDataKeyVersions"):
        expect_error("Forbidden.NoPermission", 403,
                     lambda a=action: other.call(a, "2016-01-20", query))  # fmt: skip


def test_get_challenge(kms: Client) -> None:
    first = kms.get_challenge(km.GetChallengeRequest()).body
    second = kms.get_challenge(km.GetChallengeRequest()).body
    assert first.nonce != second.nonce
    assert len(base64.b64decode(first.nonce)) == 32
    header, payload, signature = first.challenge_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["nonce"] == first.nonce and claims["exp"] - claims["iat"] == 300
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["typ"] == "JWT"
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32
