"""CreatePolicy, DescribePolicy, ListPolicies, UpdatePolicy, DeletePolicy of the KMS API
(2016-01-20): AAP policies. RAM's actions of the same names (2015-05-01) are another family
(``mamori.api.ram.policies``); the catalogue keys actions by version and name."""

from __future__ import annotations

from mamori.api.aap.common import (
    DESCRIPTION,
    AccessControlRules,
    NameList,
    name_param,
    page_args,
    policy_and_rules,
    policy_arn,
    policy_resource,
)
from mamori.api.catalogue import PAGE_NUMBER, PAGE_SIZE, Action, Args, Call, Result
from mamori.api.params import Str
from mamori.iam.aap_names import json_list

PERMISSIONS = NameList("Permissions", most=2)
RESOURCES = NameList("Resources", most=100, max_len=32768)
RULES = AccessControlRules("AccessControlRules")


def create_policy(call: Call, args: Args) -> Result:
    """CreatePolicy."""
    policy = call.services.aap.policies.create(
        call.scope.account_id,
        args["Name"],
        args["KmsInstance"],
        args["Permissions"],
        args["Resources"],
        args["AccessControlRules"] or (),
        args["Description"] or "",
    )
    return {
        "Arn": policy_arn(call.scope, policy.name),
        "Name": policy.name,
        "Description": policy.description,
        "KmsInstance": policy.kms_instance,
        "Permissions": json_list(policy.permissions),
        "Resources": json_list(policy.resources),
        "AccessControlRules": policy.access_control_rules,
    }


def describe_policy(call: Call, args: Args) -> Result:
    """DescribePolicy: Permissions and Resources are arrays here (strings in CreatePolicy)."""
    policy = call.services.aap.policies.describe(call.scope.account_id, args["Name"])
    return {
        "Arn": policy_arn(call.scope, policy.name),
        "Name": policy.name,
        "Description": policy.description,
        "KmsInstance": policy.kms_instance,
        "Permissions": list(policy.permissions),
        "Resources": list(policy.resources),
        "AccessControlRules": policy.access_control_rules,
    }


def list_policies(call: Call, args: Args) -> Result:
    """ListPolicies: by name, paged."""
    number, size = page_args(args)
    names, total = call.services.aap.policies.page(call.scope.account_id, (number - 1) * size, size)
    return {
        "Policies": {"Policy": [{"Name": name} for name in names]},
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": total,
    }


def update_policy(call: Call, args: Args) -> Result:
    """UpdatePolicy: what is given replaces what was (the KmsInstance never changes)."""
    call.services.aap.policies.update(
        call.scope.account_id,
        args["Name"],
        permissions=args["Permissions"],
        resources=args["Resources"],
        network_rules=args["AccessControlRules"],
        description=args["Description"],
    )
    return {}


def delete_policy(call: Call, args: Args) -> Result:
    """DeletePolicy: refused while an AAP names the policy."""
    call.services.aap.policies.delete(call.scope.account_id, args["Name"])
    return {}


ACTIONS = (
    Action(
        "CreatePolicy",
        (
            name_param(),
            # Alibaba marks it optional, but UpdatePolicy cannot set it: a policy created
            # without it could never apply anywhere, so Mamori asks for it.
            Str("KmsInstance", required=True, max_len=64),
            NameList("Permissions", required=True, most=2),
            NameList("Resources", required=True, most=100, max_len=32768),
            RULES,
            DESCRIPTION,
        ),
        create_policy,
        resources=policy_and_rules,
    ),
    Action("DescribePolicy", (name_param(),), describe_policy, policy_resource, read_only=True),
    Action("ListPolicies", (PAGE_NUMBER, PAGE_SIZE), list_policies, read_only=True),
    Action(
        "UpdatePolicy",
        (name_param(), PERMISSIONS, RESOURCES, RULES, DESCRIPTION),
        update_policy,
        resources=policy_and_rules,
    ),
    Action("DeletePolicy", (name_param(),), delete_policy, policy_resource),
)
