"""How an instance is named (its ARN) and shown (GetKmsInstance's ``KmsInstance``)."""

from __future__ import annotations

from mamori.api.catalogue import Args, Result, Services, Touch
from mamori.api.params import Str
from mamori.core.instances import Instance, Usage
from mamori.core.model import iso
from mamori.core.refs import Scope

KMS_INSTANCE_ID = Str("KmsInstanceId", required=True, max_len=64)


def instance_arn(scope: Scope, instance_id: str) -> str:
    """``acs:kms:{region}:{account}:keystore/{id}``: the form Alibaba's ListKmsInstances
    returns as KmsInstanceArn, and so what RAM policies name."""
    return f"acs:kms:{scope.region}:{scope.account_id}:keystore/{instance_id}"


def instance_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The instance the KmsInstanceId parameter names (whether or not it exists: the refusal
    of a caller who may not see it must not say)."""
    return instance_arn(scope, args.get("KmsInstanceId") or "")


def placement_touch(
    services: Services, scope: Scope, instance_id: str | None, ram_action: str = ""
) -> Touch:
    """The instance a new key or secret goes in (DKMSInstanceId, else the default one), as a
    resource of the creating action: a policy may allow or deny creating in one instance."""
    if instance_id:
        return Touch(instance_arn(scope, instance_id), f"DKMSInstanceId {instance_id}", ram_action)
    default = services.instances.default_instance(scope.account_id).id
    return Touch(instance_arn(scope, default), "the default KMS instance", ram_action)


def kms_instance(instance: Instance, usage: Usage, ca_chain_pem: str) -> Result:
    """GetKmsInstance's ``KmsInstance``. KeyNum, SecretNum and VpcNum are the quotas (Alibaba:
    "the number of keys that can be created"), Spec the QPS. Billing fields are empty and the
    instance never ends: Mamori sells nothing."""
    del usage  # the counts are GetKmsInstanceQuotaInfos' UsedQuantity
    created = iso(instance.created_at)
    return {
        "InstanceId": instance.id,
        "InstanceName": instance.name,
        "Status": instance.status,
        "CreateTime": created,
        "StartDate": created,
        "EndDate": "",
        "Spec": instance.spec,
        "KeyNum": instance.key_quota,
        # A string in Alibaba's response model, unlike KeyNum.
        "SecretNum": str(instance.secret_quota),
        "VpcNum": instance.vpc_quota,
        "VpcId": instance.vpc_id,
        "VswitchIds": list(instance.vswitch_ids),
        "ZoneIds": list(instance.zone_ids),
        "BindVpcs": {
            "BindVpc": [
                {
                    "VpcId": v.vpc_id,
                    "RegionId": v.region_id,
                    "VSwitchId": v.vswitch_id,
                    "VpcOwnerId": v.vpc_owner_id,
                }
                for v in instance.bind_vpcs
            ]
        },
        "CaCertificateChainPem": ca_chain_pem,
        "ChargeType": "",
        "SaleStatus": "",
        "ProductType": "",
        "ProductVersion": "3",
        "Log": 0,
        "LogStorage": 0,
        "DeletionProtection": False,
        "DeletionProtectionDescription": "",
    }
