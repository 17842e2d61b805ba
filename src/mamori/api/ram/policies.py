"""RAM roles, policies, policy versions and attachments (API 2015-05-01). Policies and their
versions are here; roles and attachments are in their own modules, collected below."""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.params import Bool, Str
from mamori.api.ram import attachments, roles
from mamori.api.ram.common import MARKER, MAX_ITEMS, ram_account_resource, ram_action
from mamori.api.ram.policy_common import (
    POLICY_TYPE,
    TAG,
    PolicyType,
    RamText,
    VersionId,
    document,
    has_tags,
    page,
    policy_json,
    policy_name,
    policy_resource,
    ram,
    tags_json,
    version_json,
)
from mamori.iam.policies import CUSTOM, SYSTEM

VERSION_ID = VersionId("VersionId", required=True)
_ROTATE = "DeleteOldestNonDefaultVersionWhenLimitExceeded"


def create_policy(call: Call, args: Args) -> Result:
    """CreatePolicy."""
    info = ram(call).policies.create(
        call.scope.account_id,
        args["PolicyName"],
        args["PolicyDocument"],
        args["Description"] or "",
        args["Tag"] or (),
    )
    return {"Policy": policy_json(info, full=False)}


def get_policy(call: Call, args: Args) -> Result:
    """GetPolicy: the document is in DefaultPolicyVersion (and, deprecated, in Policy)."""
    info, version = ram(call).policies.get(
        call.scope.account_id, args["PolicyName"], args["PolicyType"]
    )
    body = policy_json(info)
    body["PolicyDocument"] = version.document
    return {"Policy": body, "DefaultPolicyVersion": version_json(version)}


def _order(policy_type: str, name: str) -> str:
    # System policies list before custom ones; the Marker carries both parts.
    return f"{0 if policy_type == SYSTEM else 1}:{name}"


def list_policies(call: Call, args: Args) -> Result:
    """ListPolicies: system then custom, each by name, paged; PolicyType and Tag filter."""
    policies = ram(call).policies
    every = policies.listing(call.scope.account_id, args["PolicyType"])
    custom = [p.name for p in every if p.policy_type == CUSTOM]
    tags = policies.tags(call.scope.account_id, custom)
    if args["Tag"]:
        every = [p for p in every if has_tags(tags.get(p.name, {}), args["Tag"])]
    every.sort(key=lambda p: _order(p.policy_type, p.name))
    chosen, paging = page(every, lambda p: _order(p.policy_type, p.name), args)
    items = [
        {
            **policy_json(p),
            "Tags": tags_json(tags.get(p.name, {}) if p.policy_type == CUSTOM else {}),
        }
        for p in chosen
    ]
    return {"Policies": {"Policy": items}, **paging}


def delete_policy(call: Call, args: Args) -> Result:
    """DeletePolicy; CascadingDelete removes the non-default versions too."""
    ram(call).policies.delete(
        call.scope.account_id, args["PolicyName"], bool(args["CascadingDelete"])
    )
    return {}


def create_policy_version(call: Call, args: Args) -> Result:
    """CreatePolicyVersion."""
    version = ram(call).policies.create_version(
        call.scope.account_id,
        args["PolicyName"],
        args["PolicyDocument"],
        bool(args["SetAsDefault"]),
        rotate=args["RotateStrategy"] == _ROTATE,
    )
    return {"PolicyVersion": version_json(version)}


def get_policy_version(call: Call, args: Args) -> Result:
    """GetPolicyVersion."""
    version = ram(call).policies.get_version(
        call.scope.account_id, args["PolicyName"], args["PolicyType"], args["VersionId"]
    )
    return {"PolicyVersion": version_json(version)}


def list_policy_versions(call: Call, args: Args) -> Result:
    """ListPolicyVersions (not paged)."""
    versions = ram(call).policies.versions(
        call.scope.account_id, args["PolicyName"], args["PolicyType"]
    )
    return {"PolicyVersions": {"PolicyVersion": [version_json(v) for v in versions]}}


def delete_policy_version(call: Call, args: Args) -> Result:
    """DeletePolicyVersion."""
    ram(call).policies.delete_version(call.scope.account_id, args["PolicyName"], args["VersionId"])
    return {}


def set_default_policy_version(call: Call, args: Args) -> Result:
    """SetDefaultPolicyVersion."""
    ram(call).policies.set_default_version(
        call.scope.account_id, args["PolicyName"], args["VersionId"]
    )
    return {}


_POLICY_ACTIONS = (
    ram_action(
        "CreatePolicy",
        (
            policy_name(),
            document("PolicyDocument", required=True),
            RamText("Description"),
            TAG,
        ),
        create_policy,
        policy_resource,
    ),
    ram_action(
        "GetPolicy", (policy_name(), POLICY_TYPE), get_policy, policy_resource, read_only=True
    ),
    ram_action(
        "ListPolicies",
        (PolicyType("PolicyType"), MARKER, MAX_ITEMS, TAG),
        list_policies,
        ram_account_resource,
        read_only=True,
    ),
    ram_action(
        "DeletePolicy",
        (policy_name(), Bool("CascadingDelete")),
        delete_policy,
        policy_resource,
    ),
    ram_action(
        "CreatePolicyVersion",
        (
            policy_name(),
            document("PolicyDocument", required=True),
            Bool("SetAsDefault"),
            Str("RotateStrategy", max_len=64, choices=("None", _ROTATE)),
        ),
        create_policy_version,
        policy_resource,
    ),
    ram_action(
        "GetPolicyVersion",
        (policy_name(), POLICY_TYPE, VERSION_ID),
        get_policy_version,
        policy_resource,
        read_only=True,
    ),
    ram_action(
        "ListPolicyVersions",
        (policy_name(), POLICY_TYPE),
        list_policy_versions,
        policy_resource,
        read_only=True,
    ),
    ram_action(
        "DeletePolicyVersion",
        (policy_name(), VERSION_ID),
        delete_policy_version,
        policy_resource,
    ),
    ram_action(
        "SetDefaultPolicyVersion",
        (policy_name(), VERSION_ID),
        set_default_policy_version,
        policy_resource,
    ),
)

ACTIONS: tuple[Action, ...] = (
    *roles.ACTIONS,
    *_POLICY_ACTIONS,
    *attachments.ACTIONS,
)
