"""Alibaba's KMS instance actions on the shared gateway (API 2016-01-20)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamori.api.catalogue import PAGE_NUMBER, PAGE_SIZE, Action, Args, Call, Result, paging
from mamori.api.errors import invalid
from mamori.api.instances.views import (
    KMS_INSTANCE_ID,
    instance_arn,
    instance_resource,
    kms_instance,
)
from mamori.api.params import JsonParam, Str
from mamori.api.render import page
from mamori.core.instances import BindVpc, Instance

RESOURCE_TYPES = ("key", "secret", "qps", "vpc")
_ID_CHARS = r"[A-Za-z0-9_.:-]"
_LIST_MAX = 16


def _instance(call: Call, instance_id: str) -> Instance:
    return call.services.instances.require(call.scope.account_id, instance_id)


def list_kms_instances(call: Call, args: Args) -> Result:
    """ListKmsInstances: the account's instances, oldest first."""
    number, size, offset, limit = paging(args, default_size=20)
    found = call.services.instances.list(call.scope.account_id)
    return {
        "KmsInstances": {
            "KmsInstance": [
                {"KmsInstanceId": i.id, "KmsInstanceArn": instance_arn(call.scope, i.id)}
                for i in found[offset : offset + limit]
            ]
        },
        **page(number, size, len(found)),
    }


def get_kms_instance(call: Call, args: Args) -> Result:
    """GetKmsInstance, with Mamori's CA chain (what the dedicated gateway's TLS presents)."""
    instances = call.services.instances
    found = _instance(call, args["KmsInstanceId"])
    return {"KmsInstance": kms_instance(found, instances.usage(found.id), instances.ca_chain_pem)}


def get_default_kms_instance(call: Call, _args: Args) -> Result:
    """GetDefaultKmsInstance: where keys and secrets go when no DKMSInstanceId is given."""
    return {
        "DefaultKmsInstanceId": call.services.instances.default_instance(call.scope.account_id).id
    }


def get_kms_instance_quota_infos(call: Call, args: Args) -> Result:
    """GetKmsInstanceQuotaInfos: each quota (or the one ResourceType names) and its use. With
    no KmsInstanceId, the default instance's. The QPS in use is not measured here: 0."""
    instances = call.services.instances
    instance_id = args["KmsInstanceId"]
    found = (
        _instance(call, instance_id)
        if instance_id
        else instances.default_instance(call.scope.account_id)
    )
    usage = instances.usage(found.id)
    rows = {
        "key": (found.key_quota, usage.keys),
        "secret": (found.secret_quota, usage.secrets),
        "qps": (found.spec, 0),
        "vpc": (found.vpc_quota, len(found.bind_vpcs)),
    }
    wanted = [args["ResourceType"]] if args["ResourceType"] else list(RESOURCE_TYPES)
    return {
        "KmsInstanceId": found.id,
        "KmsInstanceQuotaInfos": [
            {"ResourceType": kind, "ResourceQuota": rows[kind][0], "UsedQuantity": rows[kind][1]}
            for kind in wanted
        ],
    }


def _ids(name: str, text: str) -> list[str]:
    """A comma-separated list of VPC-style ids (``vsw-…,vsw-…``, ``cn-hangzhou-k,…``)."""
    items = [item.strip() for item in text.split(",")]
    if len(items) > _LIST_MAX or not all(
        item and len(item) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.:-") for c in item)
        for item in items
    ):
        raise invalid(name, f"Give 1 to {_LIST_MAX} comma-separated ids.")
    return items


def connect_kms_instance(call: Call, args: Args) -> Result:
    """ConnectKmsInstance: records the VPC, vSwitches, zones and KMProvider. Mamori has no
    VPCs: its instances are served from creation on the TLS port, and who may reach them is
    each application access point's network rules."""
    call.services.instances.connect(
        call.scope.account_id,
        args["KmsInstanceId"],
        args["KMProvider"],
        args["VpcId"],
        _ids("VSwitchIds", args["VSwitchIds"]),
        _ids("ZoneIds", args["ZoneIds"]),
    )
    return {}


def _short(value: Any, empty: bool = False) -> bool:
    return isinstance(value, str) and (empty or value != "") and len(value) <= 64


@dataclass(frozen=True, slots=True)
class BindVpcs(JsonParam):
    """``[{"VpcId", "RegionId", "VSwitchId", "VpcOwnerId"?}, …]`` → [BindVpc, …]."""

    def shape(self, value: Any) -> Any:
        """Check every entry names a VPC, region and vSwitch."""
        if not isinstance(value, list) or len(value) > _LIST_MAX:
            raise invalid(self.name, f"It must be a JSON array of at most {_LIST_MAX} VPCs.")
        vpcs: list[BindVpc] = []
        for item in value:
            if not isinstance(item, dict) or set(item) - {
                "VpcId",
                "RegionId",
                "VSwitchId",
                "VpcOwnerId",
            }:
                raise invalid(self.name, "Each VPC is an object of VpcId, RegionId, VSwitchId.")
            vpc, region, vswitch = (item.get(k) for k in ("VpcId", "RegionId", "VSwitchId"))
            owner = item.get("VpcOwnerId", "")
            if isinstance(owner, int) and not isinstance(owner, bool):
                owner = str(owner)
            if not (
                _short(vpc) and _short(region) and _short(vswitch) and _short(owner, empty=True)
            ):
                raise invalid(self.name, "VpcId, RegionId and VSwitchId are required strings.")
            vpcs.append(BindVpc(str(vpc), str(region), str(vswitch), str(owner)))
        return vpcs


def update_kms_instance_bind_vpc(call: Call, args: Args) -> Result:
    """UpdateKmsInstanceBindVpc: replaces the bound VPCs (recorded; see ConnectKmsInstance)."""
    call.services.instances.bind_vpcs(
        call.scope.account_id, args["KmsInstanceId"], args["BindVpcs"]
    )
    return {}


def release_kms_instance(call: Call, args: Args) -> Result:
    """ReleaseKmsInstance: refused while it holds keys or secrets, and for the default one."""
    call.services.instances.release(call.scope.account_id, args["KmsInstanceId"])
    return {}


ACTIONS = (
    Action("ListKmsInstances", (PAGE_NUMBER, PAGE_SIZE), list_kms_instances, read_only=True),
    Action(
        "GetKmsInstance", (KMS_INSTANCE_ID,), get_kms_instance, instance_resource, read_only=True
    ),
    Action("GetDefaultKmsInstance", (), get_default_kms_instance, read_only=True),
    Action(
        "GetKmsInstanceQuotaInfos",
        (Str("KmsInstanceId", max_len=64), Str("ResourceType", choices=RESOURCE_TYPES)),
        get_kms_instance_quota_infos,
        # Without KmsInstanceId it reads the default instance, named by neither ARN: the
        # account's resource then (as GetDefaultKmsInstance).
        lambda services, scope, args: (
            instance_resource(services, scope, args)
            if args.get("KmsInstanceId")
            else f"acs:kms:{scope.region}:{scope.account_id}:*"
        ),
        read_only=True,
    ),
    Action(
        "ConnectKmsInstance",
        (
            KMS_INSTANCE_ID,
            Str("KMProvider", required=True, max_len=32, pattern=r"[A-Za-z0-9_-]{1,32}"),
            Str("VpcId", required=True, max_len=64, pattern=rf"{_ID_CHARS}{{1,64}}"),
            Str("VSwitchIds", required=True, max_len=2048),
            Str("ZoneIds", required=True, max_len=2048),
        ),
        connect_kms_instance,
        instance_resource,
    ),
    Action(
        "UpdateKmsInstanceBindVpc",
        (KMS_INSTANCE_ID, BindVpcs("BindVpcs", required=True, max_len=8192)),
        update_kms_instance_bind_vpc,
        instance_resource,
    ),
    Action(
        "ReleaseKmsInstance",
        (KMS_INSTANCE_ID, Str("ForceDeleteWithoutBackup", choices=("true", "false"))),
        release_kms_instance,
        instance_resource,
    ),
)
