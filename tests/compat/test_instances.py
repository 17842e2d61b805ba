"""KMS instances through the official SDKs: Alibaba's seven instance actions, Mamori's two
extensions, placement by DKMSInstanceId, quotas, release, and authorization on the instance."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from aliyunsdkkms.request.v20160120.GetKmsInstanceRequest import GetKmsInstanceRequest
from aliyunsdkkms.request.v20160120.ListKmsInstancesRequest import ListKmsInstancesRequest
from aliyunsdkkms.request.v20160120.UpdateKmsInstanceBindVpcRequest import (
    UpdateKmsInstanceBindVpcRequest,
)

from mamori.config import Settings
from tests.compat.instance_helpers import call, generic
from tests.compat.instance_helpers import new_instance as create_instance
from tests.compat.ram_helpers import allow, deny, doc, grant, new_user, unique
from tests.compat.sdk import OldSdk, expect_error
from tests.conftest import ServerProcess

ID = re.compile(r"kst-[a-z0-9]{21}")
NOT_FOUND = ("Forbidden.DKMSInstanceNotFound", 403)
STATE = ("Forbidden.DKMSInstanceStateInvalid", 403)
LIMIT = ("Rejected.LimitExceeded", 400)
INVALID = ("InvalidParameter", 400)
FORBIDDEN = ("Forbidden.NoPermission", 403)
UNKNOWN = "kst-" + "0" * 21


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> OpenApiClient:
    return generic(server)


def new_instance(admin: OpenApiClient, **figures: Any) -> str:
    made = create_instance(admin, **figures)
    assert ID.fullmatch(made)
    return made


def _account(server: ServerProcess) -> tuple[str, str]:
    settings = Settings(data_dir=server.data_dir, store_url=server.store_url)
    return settings.region, settings.account_id


def _instance(kms: Client, instance_id: str) -> km.GetKmsInstanceResponseBodyKmsInstance:
    request = km.GetKmsInstanceRequest(kms_instance_id=instance_id)
    return kms.get_kms_instance(request).body.kms_instance


def _quotas(kms: Client, instance_id: str | None, kind: str | None = None) -> dict[str, Any]:
    request = km.GetKmsInstanceQuotaInfosRequest(kms_instance_id=instance_id, resource_type=kind)
    body = kms.get_kms_instance_quota_infos(request).body
    return {
        "id": body.kms_instance_id,
        **{
            q.resource_type: (q.used_quantity, q.resource_quota)
            for q in body.kms_instance_quota_infos
        },
    }


def _secret(kms: Client, instance_id: str | None = None) -> km.CreateSecretResponseBody:
    request = km.CreateSecretRequest(
        secret_name=unique("inst"), version_id="v1", secret_data="x", dkmsinstance_id=instance_id
    )
    return kms.create_secret(request).body


def _key(kms: Client, instance_id: str | None = None) -> km.CreateKeyResponseBodyKeyMetadata:
    return kms.create_key(km.CreateKeyRequest(dkmsinstance_id=instance_id)).body.key_metadata


# -- the default instance -------------------------------------------------------------------------


def test_the_default_instance_exists_from_first_start(server: ServerProcess, kms: Client) -> None:
    default = kms.get_default_kms_instance().body.default_kms_instance_id
    assert ID.fullmatch(default)
    found = _instance(kms, default)
    assert (found.instance_id, found.status, found.spec) == (default, "Connected", 1000)
    assert (found.key_num, found.secret_num, found.vpc_num) == (100_000, "100000", 5)
    assert found.ca_certificate_chain_pem == server.ca_file.read_text("ascii")
    assert found.create_time and found.bind_vpcs.bind_vpc == []
    region, account = _account(server)
    listed = kms.list_kms_instances(km.ListKmsInstancesRequest(page_size=100)).body
    arns = {i.kms_instance_id: i.kms_instance_arn for i in listed.kms_instances.kms_instance}
    assert arns[default] == f"acs:kms:{region}:{account}:keystore/{default}"
    assert listed.total_count >= 1


def test_keys_and_secrets_without_an_instance_go_to_the_default_one(kms: Client) -> None:
    default = kms.get_default_kms_instance().body.default_kms_instance_id
    key = _key(kms)
    assert key.dkmsinstance_id == default
    described = kms.describe_key(km.DescribeKeyRequest(key_id=key.key_id)).body.key_metadata
    assert described.dkmsinstance_id == default
    created = _secret(kms)
    assert created.dkmsinstance_id == default
    request = km.DescribeSecretRequest(secret_name=created.secret_name)
    assert kms.describe_secret(request).body.dkmsinstance_id == default


def test_quota_infos_default_to_the_default_instance_and_count_use(kms: Client) -> None:
    default = kms.get_default_kms_instance().body.default_kms_instance_id
    before = _quotas(kms, None)
    _key(kms)
    after = _quotas(kms, None)
    assert before["id"] == after["id"] == default
    assert after["key"] == (before["key"][0] + 1, 100_000)
    assert set(after) == {"id", "key", "secret", "qps", "vpc"}
    assert after["qps"] == (0, 1000)
    assert _quotas(kms, default, "secret").keys() == {"id", "secret"}
    expect_error(*INVALID, lambda: _quotas(kms, default, "disk"))


def test_the_default_instance_cannot_be_released(kms: Client) -> None:
    default = kms.get_default_kms_instance().body.default_kms_instance_id
    request = km.ReleaseKmsInstanceRequest(kms_instance_id=default)
    error = expect_error(*STATE, lambda: kms.release_kms_instance(request))
    assert "default" in error.message


# -- instances an operator creates ----------------------------------------------------------------


def test_create_update_and_describe_an_instance(kms: Client, admin: OpenApiClient) -> None:
    name = unique("payments")
    made = new_instance(admin, InstanceName=name, Spec=2000, KeyNum=7, SecretNum=3, VpcNum=2)
    found = _instance(kms, made)
    assert (found.instance_name, found.spec, found.key_num, found.secret_num) == (
        name,
        2000,
        7,
        "3",
    )
    assert (found.vpc_num, found.status, found.end_date) == (2, "Connected", "")
    updated = call(admin, "UpdateKmsInstance", KmsInstanceId=made, Spec=4000, KeyNum=9)
    assert updated["KmsInstanceId"] == made and updated["RequestId"]
    found = _instance(kms, made)
    assert (found.spec, found.key_num, found.secret_num) == (4000, 9, "3")
    # Mamori's defaults for what is not named; any QPS in range, not only Alibaba's tiers.
    plain = _instance(kms, new_instance(admin, Spec=1500))
    assert (plain.spec, plain.key_num, plain.secret_num, plain.vpc_num) == (1500, 1000, "100", 5)
    assert plain.instance_name == plain.instance_id


@pytest.mark.parametrize(
    ("action", "query"),
    [
        ("CreateKmsInstance", {"Spec": 0}),
        ("CreateKmsInstance", {"Spec": 1_000_001}),
        ("CreateKmsInstance", {"KeyNum": -1}),
        ("CreateKmsInstance", {"SecretNum": "many"}),
        ("CreateKmsInstance", {"VpcNum": 101}),
        ("UpdateKmsInstance", {"Spec": 0}),
    ],
)
def test_bad_figures_are_invalid_and_change_nothing(
    kms: Client, admin: OpenApiClient, action: str, query: dict[str, Any]
) -> None:
    made = new_instance(admin, Spec=1000)
    before = kms.list_kms_instances(km.ListKmsInstancesRequest(page_size=100)).body.total_count
    if action == "UpdateKmsInstance":
        query = {**query, "KmsInstanceId": made}
    expect_error(*INVALID, lambda: call(admin, action, **query))
    after = kms.list_kms_instances(km.ListKmsInstancesRequest(page_size=100)).body.total_count
    assert after == before
    assert _instance(kms, made).spec == 1000


def test_keys_and_secrets_go_where_dkms_instance_id_says(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin)
    key = _key(kms, made)
    assert key.dkmsinstance_id == made
    request = km.ListKeysRequest(
        filters=json.dumps([{"Key": "DKMSInstanceId", "Values": [made]}]), page_size=100
    )
    assert [k.key_id for k in kms.list_keys(request).body.keys.key] == [key.key_id]
    secret = _secret(kms, made)
    assert secret.dkmsinstance_id == made
    described = kms.describe_secret(km.DescribeSecretRequest(secret_name=secret.secret_name))
    assert described.body.dkmsinstance_id == made
    request_s = km.ListSecretsRequest(
        filters=json.dumps([{"Key": "DKMSInstanceId", "Values": [made]}]), page_size=100
    )
    names = [s.secret_name for s in kms.list_secrets(request_s).body.secret_list.secret]
    assert names == [secret.secret_name]
    assert _quotas(kms, made) == {
        "id": made,
        "key": (1, 1000),
        "secret": (1, 100),
        "qps": (0, 1000),
        "vpc": (0, 5),
    }


def test_an_unknown_instance_is_not_found_everywhere(kms: Client, admin: OpenApiClient) -> None:
    keys_before = kms.list_keys(km.ListKeysRequest()).body.total_count
    expect_error(*NOT_FOUND, lambda: _key(kms, UNKNOWN))
    expect_error(*NOT_FOUND, lambda: _key(kms, "kst-made-up"))
    assert kms.list_keys(km.ListKeysRequest()).body.total_count == keys_before
    name = unique("nowhere")
    request = km.CreateSecretRequest(
        secret_name=name, version_id="v1", secret_data="x", dkmsinstance_id=UNKNOWN
    )
    expect_error(*NOT_FOUND, lambda: kms.create_secret(request))
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.describe_secret(km.DescribeSecretRequest(secret_name=name)),
    )
    expect_error(*NOT_FOUND, lambda: _instance(kms, UNKNOWN))
    expect_error(*NOT_FOUND, lambda: _quotas(kms, UNKNOWN))
    expect_error(
        *NOT_FOUND,
        lambda: kms.connect_kms_instance(
            km.ConnectKmsInstanceRequest(
                kms_instance_id=UNKNOWN,
                kmprovider="Aliyun",
                vpc_id="vpc-1",
                v_switch_ids="vsw-1",
                zone_ids="cn-hangzhou-k",
            )
        ),
    )
    expect_error(
        *NOT_FOUND,
        lambda: kms.update_kms_instance_bind_vpc(
            km.UpdateKmsInstanceBindVpcRequest(kms_instance_id=UNKNOWN, bind_vpcs="[]")
        ),
    )
    expect_error(
        *NOT_FOUND,
        lambda: kms.release_kms_instance(km.ReleaseKmsInstanceRequest(kms_instance_id=UNKNOWN)),
    )
    expect_error(*NOT_FOUND, lambda: call(admin, "UpdateKmsInstance", KmsInstanceId=UNKNOWN))


# -- quotas ---------------------------------------------------------------------------------------


def test_a_key_past_the_key_quota_is_refused(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin, KeyNum=2)
    _key(kms, made)
    _key(kms, made)
    error = expect_error(*LIMIT, lambda: _key(kms, made))
    assert made in error.message
    assert _quotas(kms, made, "key")["key"] == (2, 2)
    # Raising the quota makes room; lowering it below the use removes nothing.
    call(admin, "UpdateKmsInstance", KmsInstanceId=made, KeyNum=3)
    _key(kms, made)
    call(admin, "UpdateKmsInstance", KmsInstanceId=made, KeyNum=1)
    expect_error(*LIMIT, lambda: _key(kms, made))
    assert _quotas(kms, made, "key")["key"] == (3, 1)


def test_a_secret_past_the_secret_quota_is_refused(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin, SecretNum=1)
    _secret(kms, made)
    expect_error(*LIMIT, lambda: _secret(kms, made))
    assert _quotas(kms, made, "secret")["secret"] == (1, 1)


def test_concurrent_creations_cannot_overrun_a_quota(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin, KeyNum=1)

    def attempt(_: int) -> str:
        try:
            _key(kms, made)
        except AlibabaCloudException as exc:
            return str(exc.code)
        return "OK"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(attempt, range(4)))
    assert outcomes == ["OK", *["Rejected.LimitExceeded"] * 3]
    assert _quotas(kms, made, "key")["key"] == (1, 1)


# -- connect, bind, release -----------------------------------------------------------------------


def test_connect_records_the_vpc(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin)
    kms.connect_kms_instance(
        km.ConnectKmsInstanceRequest(
            kms_instance_id=made,
            kmprovider="Aliyun",
            vpc_id="vpc-bp19z7cwmltad5dff",
            v_switch_ids="vsw-a,vsw-b",
            zone_ids="cn-hangzhou-k,cn-hangzhou-j",
        )
    )
    found = _instance(kms, made)
    assert (found.vpc_id, found.vswitch_ids, found.zone_ids) == (
        "vpc-bp19z7cwmltad5dff",
        ["vsw-a", "vsw-b"],
        ["cn-hangzhou-k", "cn-hangzhou-j"],
    )
    assert found.status == "Connected"
    for bad in ({"v_switch_ids": "vsw-a,,vsw-b"}, {"zone_ids": "x" * 65}, {"kmprovider": "A B"}):
        request = km.ConnectKmsInstanceRequest(
            kms_instance_id=made,
            kmprovider="Aliyun",
            vpc_id="vpc-2",
            v_switch_ids="vsw-c",
            zone_ids="cn-hangzhou-k",
        )
        for attr, value in bad.items():
            setattr(request, attr, value)
        expect_error(*INVALID, lambda r=request: kms.connect_kms_instance(r))
    assert _instance(kms, made).vpc_id == "vpc-bp19z7cwmltad5dff"


def test_bind_vpcs_up_to_the_vpc_quota(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin, VpcNum=2)
    vpcs = [
        {"VpcId": "vpc-1", "RegionId": "cn-hangzhou", "VSwitchId": "vsw-1", "VpcOwnerId": 1234},
        {"VpcId": "vpc-2", "RegionId": "cn-shanghai", "VSwitchId": "vsw-2"},
    ]
    request = km.UpdateKmsInstanceBindVpcRequest(kms_instance_id=made, bind_vpcs=json.dumps(vpcs))
    kms.update_kms_instance_bind_vpc(request)
    bound = _instance(kms, made).bind_vpcs.bind_vpc
    assert [(b.vpc_id, b.region_id, b.v_switch_id, b.vpc_owner_id) for b in bound] == [
        ("vpc-1", "cn-hangzhou", "vsw-1", "1234"),
        ("vpc-2", "cn-shanghai", "vsw-2", ""),
    ]
    assert _quotas(kms, made, "vpc")["vpc"] == (2, 2)
    three = json.dumps([*vpcs, {"VpcId": "vpc-3", "RegionId": "r", "VSwitchId": "v"}])
    request = km.UpdateKmsInstanceBindVpcRequest(kms_instance_id=made, bind_vpcs=three)
    expect_error(*LIMIT, lambda: kms.update_kms_instance_bind_vpc(request))
    for bad in (
        "{}",
        "[1]",
        '[{"VpcId": "v"}]',
        '[{"VpcId":"v","RegionId":"r","VSwitchId":"s","X":1}]',
    ):
        request = km.UpdateKmsInstanceBindVpcRequest(kms_instance_id=made, bind_vpcs=bad)
        expect_error(*INVALID, lambda r=request: kms.update_kms_instance_bind_vpc(r))
    assert len(_instance(kms, made).bind_vpcs.bind_vpc) == 2


def test_release_is_refused_while_the_instance_holds_anything(
    kms: Client, admin: OpenApiClient
) -> None:
    with_key, with_secret = new_instance(admin), new_instance(admin)
    _key(kms, with_key)
    _secret(kms, with_secret)
    for made, held in ((with_key, "1 key(s) and 0 secret(s)"), (with_secret, "0 key(s) and 1")):
        request = km.ReleaseKmsInstanceRequest(
            kms_instance_id=made, force_delete_without_backup="true"
        )
        error = expect_error(*STATE, lambda r=request: kms.release_kms_instance(r))
        assert held in error.message
        assert _instance(kms, made).instance_id == made


def test_an_empty_instance_is_released(kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin)
    kms.release_kms_instance(km.ReleaseKmsInstanceRequest(kms_instance_id=made))
    expect_error(*NOT_FOUND, lambda: _instance(kms, made))
    expect_error(*NOT_FOUND, lambda: _key(kms, made))
    listed = kms.list_kms_instances(km.ListKmsInstancesRequest(page_size=100)).body
    assert made not in {i.kms_instance_id for i in listed.kms_instances.kms_instance}


def test_list_pages_and_refuses_filters(kms: Client, admin: OpenApiClient) -> None:
    new_instance(admin)
    total = kms.list_kms_instances(km.ListKmsInstancesRequest()).body.total_count
    first = kms.list_kms_instances(km.ListKmsInstancesRequest(page_number=1, page_size=1)).body
    assert (first.page_number, first.page_size, first.total_count) == (1, 1, total)
    assert len(first.kms_instances.kms_instance) == 1
    request = km.ListKmsInstancesRequest(filters='[{"Key":"KmsInstanceId","Values":["x"]}]')
    expect_error("Rejected.UnsupportedOperation", 400, lambda: kms.list_kms_instances(request))


def test_the_old_sdk_reads_and_binds(old: OldSdk, kms: Client, admin: OpenApiClient) -> None:
    made = new_instance(admin)
    get = GetKmsInstanceRequest()
    get.set_KmsInstanceId(made)
    assert old.call(get)["KmsInstance"]["InstanceId"] == made
    # The shared server holds every instance other tests made: page until the end.
    listed: set[str] = set()
    for number in range(1, 1000):
        page = ListKmsInstancesRequest()
        page.set_PageNumber(number)
        page.set_PageSize(100)
        items = old.call(page)["KmsInstances"]["KmsInstance"]
        listed |= {i["KmsInstanceId"] for i in items}
        if len(items) < 100:
            break
    assert made in listed
    bind = UpdateKmsInstanceBindVpcRequest()  # a GET request in the old SDK
    bind.set_KmsInstanceId(made)
    bind.set_BindVpcs(json.dumps([{"VpcId": "v", "RegionId": "r", "VSwitchId": "s"}]))
    old.call(bind)
    assert _instance(kms, made).bind_vpcs.bind_vpc[0].vpc_id == "v"


# -- authorization --------------------------------------------------------------------------------


def test_creating_in_an_instance_needs_create_on_that_instance(
    server: ServerProcess, kms: Client, ram: RamClient, admin: OpenApiClient
) -> None:
    region, account = _account(server)
    allowed, refused = new_instance(admin), new_instance(admin)
    arn = f"acs:kms:{region}:{account}:keystore/{refused}"
    user = new_user(server, ram, "placer")
    grant(ram, user.name, doc(allow("kms:*"), deny(["kms:CreateKey", "kms:CreateSecret"], arn)))
    assert _key(user.kms, allowed).dkmsinstance_id == allowed
    assert (
        _key(user.kms).dkmsinstance_id
        == kms.get_default_kms_instance().body.default_kms_instance_id
    )
    error = expect_error(*FORBIDDEN, lambda: _key(user.kms, refused))
    assert "kms:CreateKey" in error.message and refused in error.message
    error = expect_error(*FORBIDDEN, lambda: _secret(user.kms, refused))
    assert "kms:CreateSecret" in error.message
    assert _quotas(kms, refused) == {
        "id": refused,
        "key": (0, 1000),
        "secret": (0, 100),
        "qps": (0, 1000),
        "vpc": (0, 5),
    }


def test_a_deny_on_the_default_instance_holds_without_naming_it(
    server: ServerProcess, kms: Client, ram: RamClient
) -> None:
    region, account = _account(server)
    default = kms.get_default_kms_instance().body.default_kms_instance_id
    user = new_user(server, ram, "nodefault")
    grant(
        ram,
        user.name,
        doc(
            allow("kms:*"), deny("kms:CreateKey", f"acs:kms:{region}:{account}:keystore/{default}")
        ),
    )
    error = expect_error(*FORBIDDEN, lambda: _key(user.kms))
    assert "the default KMS instance" in error.message


def test_instance_actions_are_authorized_on_the_instance(
    server: ServerProcess, kms: Client, ram: RamClient, admin: OpenApiClient
) -> None:
    region, account = _account(server)
    mine, other = new_instance(admin), new_instance(admin)
    user = new_user(server, ram, "instances")
    grant(
        ram,
        user.name,
        doc(
            allow(
                ["kms:GetKmsInstance", "kms:ReleaseKmsInstance", "kms:UpdateKmsInstance"],
                f"acs:kms:{region}:{account}:keystore/{mine}",
            )
        ),
    )
    assert _instance(user.kms, mine).instance_id == mine
    expect_error(*FORBIDDEN, lambda: _instance(user.kms, other))
    expect_error(
        *FORBIDDEN,
        lambda: user.kms.release_kms_instance(km.ReleaseKmsInstanceRequest(kms_instance_id=other)),
    )
    generic = user.generic
    assert (
        call(generic, "UpdateKmsInstance", KmsInstanceId=mine, Spec=2000)["KmsInstanceId"] == mine
    )
    expect_error(*FORBIDDEN, lambda: call(generic, "UpdateKmsInstance", KmsInstanceId=other))
    error = expect_error(*FORBIDDEN, lambda: call(generic, "CreateKmsInstance"))
    assert "kms:CreateKmsInstance" in error.message
    # Another account's instance, or one that does not exist, reads alike to this user.
    expect_error(*FORBIDDEN, lambda: _instance(user.kms, UNKNOWN))
    grant(ram, user.name, doc(allow("kms:CreateKmsInstance", f"acs:kms:{region}:{account}:*")))
    assert ID.fullmatch(call(generic, "CreateKmsInstance")["KmsInstanceId"])
