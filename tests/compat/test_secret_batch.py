"""BatchGetSecretValue through the official new SDK: values in request order, per-secret
errors (missing, in the delete window, denied) that do not fail the call, and the limits."""

from __future__ import annotations

import json
import uuid

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.ram_helpers import RamUser, allow, doc, grant, new_user
from tests.compat.sdk import b64, expect_error
from tests.conftest import ServerProcess

Entry = km.BatchGetSecretValueRequestSecretsList


def unique() -> str:
    return f"sb-{uuid.uuid4().hex[:12]}"


def new_secret(kms: Client, data: str = "one", **extra: object) -> str:
    name = unique()
    kms.create_secret(
        km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=data, **extra)
    )
    return name


def batch(kms: Client, *entries: Entry) -> km.BatchGetSecretValueResponseBody:
    request = km.BatchGetSecretValueRequest(secrets_list=list(entries))
    return kms.batch_get_secret_value(request).body


def test_values_come_back_shaped_like_get_secret_value(kms: Client) -> None:
    first = new_secret(kms, "alpha", extended_config={"CustomData": {"a": "b"}})
    second = new_secret(kms, b64(b"\x00\x01"), secret_data_type="binary")
    kms.put_secret_value(
        km.PutSecretValueRequest(secret_name=first, version_id="v2", secret_data="beta")
    )
    body = batch(
        kms,
        Entry(secret_name=first, fetch_extended_config="true"),
        Entry(secret_name=first, version_stage="ACSPrevious"),
        Entry(secret_name=second),
        Entry(secret_name=first, version_id="v1"),
    )
    assert body.errors == []
    got = [(v.secret_name, v.secret_data, v.version_id) for v in body.secret_values]
    assert got == [(first, "beta", "v2"), (first, "alpha", "v1"), (second, b64(b"\x00\x01"), "v1"),
                   (first, "alpha", "v1")]  # fmt: skip
    head = body.secret_values[0]
    assert head.version_stages.version_stage == ["ACSCurrent"] and head.secret_type == "Generic"
    assert json.loads(head.extended_config)["CustomData"] == {"a": "b"} and head.create_time
    assert body.secret_values[1].extended_config is None
    assert body.secret_values[2].secret_data_type == "binary"


def test_a_missing_or_deleted_secret_goes_to_errors(kms: Client) -> None:
    good, deleted, missing = new_secret(kms), new_secret(kms), unique()
    kms.delete_secret(km.DeleteSecretRequest(secret_name=deleted))
    body = batch(
        kms,
        Entry(secret_name=missing),
        Entry(secret_name=good),
        Entry(secret_name=deleted),
        Entry(secret_name=good, version_id="nope"),
    )
    assert [v.secret_name for v in body.secret_values] == [good]
    errors = [(e.secret_name, e.code, e.http_status) for e in body.errors]
    assert errors == [
        (missing, "Forbidden.ResourceNotFound", 404),
        (deleted, "Rejected.ResourceInDeleteWindow", 409),
        (good, "Forbidden.ResourceNotFound", 404),
    ]
    assert all(e.message for e in body.errors)


def test_limits_and_malformed_lists(kms: Client) -> None:
    name = new_secret(kms)
    entries = [Entry(secret_name=name)] * 21
    expect_error("InvalidParameter", 400, lambda: batch(kms, *entries))
    assert len(batch(kms, *entries[:20]).secret_values) == 20
    expect_error("InvalidParameter", 400, lambda: batch(kms))
    none = km.BatchGetSecretValueRequest()
    expect_error("MissingParameter", 400, lambda: kms.batch_get_secret_value(none))
    expect_error("MissingParameter", 400, lambda: batch(kms, Entry(version_id="v1")))


@pytest.fixture
def user(server: ServerProcess, ram: RamClient) -> RamUser:
    """A fresh RAM user without policies."""
    return new_user(server, ram)


def test_each_secret_is_authorized_on_its_own_arn(
    kms: Client, ram: RamClient, user: RamUser
) -> None:
    mine, other = new_secret(kms), new_secret(kms)
    expect_error("Forbidden.NoPermission", 403, lambda: batch(user.kms, Entry(secret_name=mine)))
    grant(
        ram,
        user.name,
        doc(
            allow("kms:BatchGetSecretValue"),
            allow("kms:GetSecretValue", resource=f"acs:kms:*:*:secret/{mine}"),
        ),
    )
    body = batch(user.kms, Entry(secret_name=mine), Entry(secret_name=other))
    assert [v.secret_name for v in body.secret_values] == [mine]
    assert [(e.secret_name, e.code, e.http_status) for e in body.errors] == [
        (other, "Forbidden.NoPermission", 403)
    ]
