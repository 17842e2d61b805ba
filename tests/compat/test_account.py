"""Account and service actions through the official new SDK: DescribeRegions,
DescribeAccountKmsStatus and OpenKmsService (spec/kms-api.md §7.7, §7.8)."""

from __future__ import annotations

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException


def test_describe_regions(kms: Client) -> None:
    resp = kms.describe_regions()
    assert resp.status_code == 200
    assert resp.body.request_id
    regions = [r.region_id for r in resp.body.regions.region]
    assert regions == ["cn-hangzhou"]


def test_describe_regions_matches_the_key_arns(kms: Client) -> None:
    arn = kms.create_key(km.CreateKeyRequest()).body.key_metadata.arn
    (region,) = kms.describe_regions().body.regions.region
    assert arn.split(":")[2] == region.region_id


def test_describe_account_kms_status(kms: Client) -> None:
    resp = kms.describe_account_kms_status()
    assert resp.status_code == 200
    assert resp.body.request_id
    assert resp.body.account_status == "Enabled"


def test_open_kms_service_when_already_open(kms: Client) -> None:
    with pytest.raises(ClientException) as info:
        kms.open_kms_service()
    assert (info.value.code, info.value.status_code) == ("Forbidden.Opened", 403)
    assert info.value.request_id
    # Still open, and still usable.
    assert kms.describe_account_kms_status().body.account_status == "Enabled"
    assert kms.list_keys(km.ListKeysRequest()).status_code == 200
