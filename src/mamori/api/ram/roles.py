"""RAM roles (API 2015-05-01): CreateRole, GetRole, ListRoles, UpdateRole, DeleteRole."""

from __future__ import annotations

from mamori.api.catalogue import Args, Call, Result
from mamori.api.params import Bool, Int
from mamori.api.ram.common import MARKER, MAX_ITEMS, ram_account_resource, ram_action
from mamori.api.ram.policy_common import (
    TAG,
    RamText,
    document,
    has_tags,
    page,
    ram,
    role_json,
    role_name,
    role_resource,
    tags_json,
)
from mamori.iam.roles import SESSION_MAX, SESSION_MIN


def create_role(call: Call, args: Args) -> Result:
    """CreateRole."""
    role = ram(call).roles.create(
        call.scope.account_id,
        args["RoleName"],
        args["AssumeRolePolicyDocument"],
        args["Description"] or "",
        args["MaxSessionDuration"] or SESSION_MIN,
        args["Tag"] or (),
    )
    return {"Role": role_json(role, updated=False)}


def get_role(call: Call, args: Args) -> Result:
    """GetRole."""
    role = ram(call).roles.get(call.scope.account_id, args["RoleName"])
    body = role_json(role)
    body["IsServiceLinkedRole"] = False
    body["RolePrincipalName"] = f"{role.name}@role.{role.account_id}.onaliyunservice.com"
    return {"Role": body}


def list_roles(call: Call, args: Args) -> Result:
    """ListRoles: by name, paged with Marker/MaxItems, optionally only roles with every Tag."""
    roles = ram(call).roles
    every = sorted(roles.all(call.scope.account_id), key=lambda r: r.name)
    tags = roles.tags(every)
    if args["Tag"]:
        every = [r for r in every if has_tags(tags[r.role_id], args["Tag"])]
    chosen, paging = page(every, lambda r: r.name, args)
    items = [{**role_json(r, trust=False), "Tags": tags_json(tags[r.role_id])} for r in chosen]
    return {"Roles": {"Role": items}, **paging}


def update_role(call: Call, args: Args) -> Result:
    """UpdateRole (NewAllowConsoleLogin is accepted and ignored: Mamori has no console)."""
    role = ram(call).roles.update(
        call.scope.account_id,
        args["RoleName"],
        trust=args["NewAssumeRolePolicyDocument"],
        description=args["NewDescription"],
        max_session=args["NewMaxSessionDuration"],
    )
    return {"Role": role_json(role)}


def delete_role(call: Call, args: Args) -> Result:
    """DeleteRole."""
    ram(call).roles.delete(call.scope.account_id, args["RoleName"])
    return {}


ACTIONS = (
    ram_action(
        "CreateRole",
        (
            role_name(),
            document("AssumeRolePolicyDocument", required=True),
            RamText("Description"),
            Int("MaxSessionDuration", low=SESSION_MIN, high=SESSION_MAX),
            Bool("AllowConsoleLogin"),
            TAG,
        ),
        create_role,
        role_resource,
    ),
    ram_action("GetRole", (role_name(),), get_role, role_resource, read_only=True),
    ram_action(
        "ListRoles", (MARKER, MAX_ITEMS, TAG), list_roles, ram_account_resource, read_only=True
    ),
    ram_action(
        "UpdateRole",
        (
            role_name(),
            document("NewAssumeRolePolicyDocument", required=False),
            RamText("NewDescription"),
            Int("NewMaxSessionDuration", low=SESSION_MIN, high=SESSION_MAX),
            Bool("NewAllowConsoleLogin"),
        ),
        update_role,
        role_resource,
    ),
    ram_action("DeleteRole", (role_name(),), delete_role, role_resource),
)
