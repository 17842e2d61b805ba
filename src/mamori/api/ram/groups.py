"""RAM groups and their members (API 2015-05-01)."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.api.catalogue import Action, Args, Call, Result, Services, Touch
from mamori.api.dispatch import require
from mamori.api.ram.common import (
    MARKER,
    MAX_ITEMS,
    comments,
    group_arn,
    group_json,
    group_name,
    group_resource,
    identities,
    page_fields,
    page_request,
    ram_account_resource,
    ram_action,
    user_name,
    user_resource,
)
from mamori.core.model import iso
from mamori.core.refs import Scope

GROUP_NAME = group_name("GroupName", required=True)
USER_NAME = user_name("UserName", required=True)


def create_group(call: Call, args: Args) -> Result:
    """CreateGroup."""
    group = identities(call).directory.create_group(
        call.scope.account_id, args["GroupName"], args["Comments"] or ""
    )
    return {"Group": group_json(group, updated=False)}


def get_group(call: Call, args: Args) -> Result:
    """GetGroup."""
    group = identities(call).directory.get_group(call.scope.account_id, args["GroupName"])
    return {"Group": group_json(group)}


def update_group(call: Call, args: Args) -> Result:
    """UpdateGroup; NewGroupName renames (members and policies follow), which needs
    ``ram:UpdateGroup`` on the new name too."""
    if args["NewGroupName"] is not None:
        require(call, "ram:UpdateGroup", group_arn(call.scope, args["NewGroupName"]))
    group = identities(call).directory.update_group(
        call.scope.account_id, args["GroupName"], args["NewGroupName"], args["NewComments"]
    )
    return {"Group": group_json(group)}


def delete_group(call: Call, args: Args) -> Result:
    """DeleteGroup."""
    identities(call).directory.delete_group(call.scope.account_id, args["GroupName"])
    return {}


def list_groups(call: Call, args: Args) -> Result:
    """ListGroups (Marker/MaxItems paging, by name)."""
    after, limit = page_request(args)
    groups, more = identities(call).directory.list_groups(call.scope.account_id, after, limit)
    return {
        "Groups": {"Group": [group_json(g) for g in groups]},
        **page_fields(more, groups[-1].name if groups else None),
    }


def _membership(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """A membership change touches the group and the user: a Deny on either refuses it (else a
    user allowed on a group could join the administrator to it, or leave a group a Deny keeps
    it in)."""
    yield Touch(group_resource(services, scope, args), f"GroupName {args['GroupName']}")
    yield Touch(user_resource(services, scope, args), f"UserName {args['UserName']}")


def add_user_to_group(call: Call, args: Args) -> Result:
    """AddUserToGroup."""
    identities(call).directory.add_user_to_group(
        call.scope.account_id, args["UserName"], args["GroupName"]
    )
    return {}


def remove_user_from_group(call: Call, args: Args) -> Result:
    """RemoveUserFromGroup."""
    identities(call).directory.remove_user_from_group(
        call.scope.account_id, args["UserName"], args["GroupName"]
    )
    return {}


def list_groups_for_user(call: Call, args: Args) -> Result:
    """ListGroupsForUser (not paged); items carry JoinDate, not CreateDate."""
    joined = identities(call).directory.groups_of(call.scope.account_id, args["UserName"])
    return {
        "Groups": {
            "Group": [
                {
                    "GroupId": g.group_id,
                    "GroupName": g.name,
                    "Comments": g.comments,
                    "JoinDate": iso(at),
                }
                for g, at in joined
            ]
        }
    }


def list_users_for_group(call: Call, args: Args) -> Result:
    """ListUsersForGroup (Marker/MaxItems paging, by user name)."""
    after, limit = page_request(args)
    members, more = identities(call).directory.members_of(
        call.scope.account_id, args["GroupName"], after, limit
    )
    return {
        "Users": {
            "User": [
                {"UserName": m.name, "DisplayName": m.display_name, "JoinDate": iso(m.joined_at)}
                for m in members
            ]
        },
        **page_fields(more, members[-1].name if members else None),
    }


ACTIONS: tuple[Action, ...] = (
    ram_action("CreateGroup", (GROUP_NAME, comments("Comments")), create_group, group_resource),
    ram_action("GetGroup", (GROUP_NAME,), get_group, group_resource, read_only=True),
    ram_action(
        "UpdateGroup",
        (GROUP_NAME, group_name("NewGroupName"), comments("NewComments")),
        update_group,
        group_resource,
    ),
    ram_action("DeleteGroup", (GROUP_NAME,), delete_group, group_resource),
    ram_action(
        "ListGroups", (MARKER, MAX_ITEMS), list_groups, ram_account_resource, read_only=True
    ),
    ram_action(
        "AddUserToGroup", (GROUP_NAME, USER_NAME), add_user_to_group, group_resource, _membership
    ),
    ram_action(
        "RemoveUserFromGroup",
        (GROUP_NAME, USER_NAME),
        remove_user_from_group,
        group_resource,
        _membership,
    ),
    ram_action(
        "ListGroupsForUser", (USER_NAME,), list_groups_for_user, user_resource, read_only=True
    ),
    ram_action(
        "ListUsersForGroup",
        (GROUP_NAME, MARKER, MAX_ITEMS),
        list_users_for_group,
        group_resource,
        read_only=True,
    ),
)
