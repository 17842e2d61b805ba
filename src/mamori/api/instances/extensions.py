"""Mamori's extensions for KMS instances. Alibaba's are purchased, so its API has no action that
makes or resizes one; an operator needs both. They are authorized like any action
(``kms:CreateKmsInstance``, ``kms:UpdateKmsInstance``), so only the administrator, or a RAM
user a policy allows, may call them."""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.instances.views import KMS_INSTANCE_ID, instance_arn, instance_resource
from mamori.api.params import Int, Str
from mamori.core import instances as figures
from mamori.core.instances import NewInstance

_SPEC = Int("Spec", low=figures.QPS_MIN, high=figures.QPS_MAX)
_KEY_NUM = Int("KeyNum", high=figures.QUOTA_MAX)
_SECRET_NUM = Int("SecretNum", high=figures.QUOTA_MAX)


def create_kms_instance(call: Call, args: Args) -> Result:
    """CreateKmsInstance: a new connected instance; unnamed figures take Mamori's defaults
    (1,000 QPS, 1,000 keys, 100 secrets, 5 VPCs)."""
    new = NewInstance(
        name=args["InstanceName"] or "",
        spec=figures.DEFAULT_SPEC if args["Spec"] is None else args["Spec"],
        key_quota=figures.DEFAULT_KEY_QUOTA if args["KeyNum"] is None else args["KeyNum"],
        secret_quota=(
            figures.DEFAULT_SECRET_QUOTA if args["SecretNum"] is None else args["SecretNum"]
        ),
        vpc_quota=figures.DEFAULT_VPC_QUOTA if args["VpcNum"] is None else args["VpcNum"],
    )
    created = call.services.instances.create(call.scope.account_id, new)
    return {"KmsInstanceId": created.id, "KmsInstanceArn": instance_arn(call.scope, created.id)}


def update_kms_instance(call: Call, args: Args) -> Result:
    """UpdateKmsInstance: a new QPS spec and/or quotas."""
    updated = call.services.instances.update(
        call.scope.account_id,
        args["KmsInstanceId"],
        spec=args["Spec"],
        key_quota=args["KeyNum"],
        secret_quota=args["SecretNum"],
    )
    return {"KmsInstanceId": updated.id}


ACTIONS = (
    Action(
        "CreateKmsInstance",
        (
            Str("InstanceName", max_len=128, pattern=r"[^\x00-\x1f\x7f]{1,128}"),
            _SPEC,
            _KEY_NUM,
            _SECRET_NUM,
            Int("VpcNum", high=figures.VPC_QUOTA_MAX),
        ),
        create_kms_instance,
        extension=True,
    ),
    Action(
        "UpdateKmsInstance",
        (KMS_INSTANCE_ID, _SPEC, _KEY_NUM, _SECRET_NUM),
        update_kms_instance,
        instance_resource,
        extension=True,
    ),
)
