"""RAM policy attachments (API 2015-05-01): AttachPolicyTo*, DetachPolicyFrom*,
ListPoliciesFor* and ListEntitiesForPolicy.

Attach and detach touch two resources, and the caller needs the action on both: the policy
(``acs:ram::{account}:policy/{name}``: which policy may be handed out is what a delegated
administrator needs limiting) and the user, group or role it is attached to (so that a Deny on
``user/admin`` also stops changing what the administrator may do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mamori.api.catalogue import Action, Args, Call, Handler, Result, Services, Touch
from mamori.api.params import Param
from mamori.api.ram.common import group_resource, ram_action, user_resource
from mamori.api.ram.policy_common import (
    GROUP_NAME,
    POLICY_TYPE,
    RESOURCE_GROUP,
    USER_NAME,
    policy_name,
    policy_resource,
    ram,
    role_name,
    role_resource,
)
from mamori.core.model import iso
from mamori.core.refs import Scope

_NAME_PARAM: dict[str, Param] = {"User": USER_NAME, "Group": GROUP_NAME, "Role": role_name()}


def _attach(kind: str) -> Handler:
    def handler(call: Call, args: Args) -> Result:
        ram(call).policies.attachments.attach(
            call.scope.account_id,
            args["PolicyType"],
            args["PolicyName"],
            kind,
            args[f"{kind}Name"],
        )
        return {}

    handler.__doc__ = f"AttachPolicyTo{kind}."
    return handler


def _detach(kind: str) -> Handler:
    def handler(call: Call, args: Args) -> Result:
        ram(call).policies.attachments.detach(
            call.scope.account_id,
            args["PolicyType"],
            args["PolicyName"],
            kind,
            args[f"{kind}Name"],
        )
        return {}

    handler.__doc__ = f"DetachPolicyFrom{kind}."
    return handler


def _list_for(kind: str) -> Handler:
    def handler(call: Call, args: Args) -> Result:
        attached = ram(call).policies.attachments.of_principal(
            call.scope.account_id, kind, args[f"{kind}Name"]
        )
        items = [
            {
                "PolicyName": a.policy_name,
                "PolicyType": a.policy_type,
                "Description": a.description,
                "DefaultVersion": a.default_version,
                "AttachDate": iso(a.attached_at),
            }
            for a in attached
        ]
        return {"Policies": {"Policy": items}}

    handler.__doc__ = f"ListPoliciesFor{kind} (not paged)."
    return handler


def list_entities_for_policy(call: Call, args: Args) -> Result:
    """ListEntitiesForPolicy (not paged)."""
    found = ram(call).policies.attachments.of_policy(
        call.scope.account_id, args["PolicyType"], args["PolicyName"]
    )
    users = [
        {
            "UserName": u.name,
            "UserId": u.user_id,
            "DisplayName": u.display_name,
            "AttachDate": iso(u.attached_at),
        }
        for u in found.users
    ]
    groups = [
        {"GroupName": g.name, "Comments": g.comments, "AttachDate": iso(g.attached_at)}
        for g in found.groups
    ]
    roles = [
        {
            "RoleName": r.name,
            "RoleId": r.role_id,
            "Arn": r.arn,
            "Description": r.description,
            "AttachDate": iso(r.attached_at),
        }
        for r in found.roles
    ]
    return {"Users": {"User": users}, "Groups": {"Group": groups}, "Roles": {"Role": roles}}


_LIST_RESOURCE = {"User": user_resource, "Group": group_resource, "Role": role_resource}


def _policy_and_principal(kind: str) -> Callable[[Services, Scope, Args], Iterator[Touch]]:
    principal_resource = _LIST_RESOURCE[kind]

    def touched(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
        yield Touch(policy_resource(services, scope, args), f"PolicyName {args['PolicyName']}")
        name = args[f"{kind}Name"]
        yield Touch(principal_resource(services, scope, args), f"{kind}Name {name}")

    return touched


def _family(kind: str) -> tuple[Action, ...]:
    param = _NAME_PARAM[kind]
    change: Callable[[str], Handler]
    actions: list[Action] = []
    for verb, change in (("AttachPolicyTo", _attach), ("DetachPolicyFrom", _detach)):
        actions.append(
            ram_action(
                f"{verb}{kind}",
                (policy_name(), POLICY_TYPE, param, RESOURCE_GROUP),
                change(kind),
                policy_resource,
                _policy_and_principal(kind),
            )
        )
    actions.append(
        ram_action(
            f"ListPoliciesFor{kind}",
            (param,),
            _list_for(kind),
            _LIST_RESOURCE[kind],
            read_only=True,
        )
    )
    return tuple(actions)


ACTIONS: tuple[Action, ...] = (
    *_family("User"),
    *_family("Group"),
    *_family("Role"),
    ram_action(
        "ListEntitiesForPolicy",
        (policy_name(), POLICY_TYPE),
        list_entities_for_policy,
        policy_resource,
        read_only=True,
    ),
)
