"""RAM users, groups, roles and policies: read, and the common edits (create and delete users
and groups, group membership, attaching and detaching policies, creating and deleting a user's
AccessKeys)."""

from __future__ import annotations

import json
from typing import Any, Final

from mamori.api.errors import ApiError
from mamori.gateway.console.http import Response
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.pages import Page, route

RAM: Final = f"{PREFIX}/ram"
# RAM's ListX pages by marker; the console shows the first MAX_ITEMS and says when there is more.
MAX_ITEMS: Final = "100"


def _optional(page: Page, action: str, **params: str) -> Any:
    try:
        return page.caller.run("ram", action, **params)
    except ApiError:
        return None


def _pretty(document: str) -> str:
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return document


def users(page: Page) -> Response:
    """GET /ram/users."""
    listing = page.caller.run("ram", "ListUsers", MaxItems=MAX_ITEMS)
    return page.render(
        "ram_users.html",
        users=listing["Users"]["User"],
        truncated=listing["IsTruncated"],
        may_create=page.caller.may("ram", "CreateUser", UserName="x"),
    )


def user_create(page: Page) -> Response:
    """POST /ram/users: CreateUser."""
    name = page.form("UserName")
    params = {"UserName": name}
    if page.form("DisplayName"):
        params["DisplayName"] = page.form("DisplayName")
    page.caller.run("ram", "CreateUser", **params)
    return page.done(f"Created user {name}.", f"{RAM}/users/{name}")


def user_detail(page: Page, name: str) -> Response:
    """GET /ram/users/{name}: the user, its groups, policies and AccessKeys (never secrets)."""
    user = page.caller.run("ram", "GetUser", UserName=name)["User"]
    policies = _optional(page, "ListPoliciesForUser", UserName=name)
    groups = _optional(page, "ListGroupsForUser", UserName=name)
    access_keys = _optional(page, "ListAccessKeys", UserName=name)
    may = page.caller.may
    return page.render(
        "ram_user.html",
        user=user,
        policies=policies["Policies"]["Policy"] if policies else None,
        groups=groups["Groups"]["Group"] if groups else None,
        access_keys=access_keys["AccessKeys"]["AccessKey"] if access_keys else None,
        may={
            "delete": may("ram", "DeleteUser", UserName=name),
            "attach": may(
                "ram",
                "AttachPolicyToUser",
                UserName=name,
                PolicyType="System",
                PolicyName="AliyunKMSReadOnlyAccess",
            ),
            "detach": may(
                "ram",
                "DetachPolicyFromUser",
                UserName=name,
                PolicyType="System",
                PolicyName="AliyunKMSReadOnlyAccess",
            ),
            # CreateAccessKey and DeleteAccessKey authorize in their handlers: these say only
            # that the request is well formed, and the API refuses whom it refuses.
            "keys": may("ram", "CreateAccessKey", UserName=name),
            "join": may("ram", "AddUserToGroup", UserName=name, GroupName="x"),
            "leave": may("ram", "RemoveUserFromGroup", UserName=name, GroupName="x"),
        },
    )


def user_delete(page: Page, name: str) -> Response:
    """POST /ram/users/{name}/delete."""
    page.caller.run("ram", "DeleteUser", UserName=name)
    return page.done(f"Deleted user {name}.", f"{RAM}/users")


def access_key_create(page: Page, name: str) -> Response:
    """POST /ram/users/{name}/access-keys: CreateAccessKey. The secret is in this answer only
    (never a flash message, which the session keeps, nor a redirect): shown once, not cached
    (every page is ``no-store``)."""
    created = page.caller.run("ram", "CreateAccessKey", UserName=name)["AccessKey"]
    return page.render("ram_access_key.html", user_name=name, key=created)


def access_key_delete(page: Page, name: str) -> Response:
    """POST /ram/users/{name}/access-keys/delete: DeleteAccessKey."""
    key_id = page.form("UserAccessKeyId")
    page.caller.run("ram", "DeleteAccessKey", UserName=name, UserAccessKeyId=key_id)
    return page.done(f"Deleted AccessKey {key_id} of {name}.", f"{RAM}/users/{name}")


def groups(page: Page) -> Response:
    """GET /ram/groups."""
    listing = page.caller.run("ram", "ListGroups", MaxItems=MAX_ITEMS)
    return page.render(
        "ram_groups.html",
        groups=listing["Groups"]["Group"],
        truncated=listing["IsTruncated"],
        may_create=page.caller.may("ram", "CreateGroup", GroupName="x"),
    )


def group_create(page: Page) -> Response:
    """POST /ram/groups: CreateGroup."""
    name = page.form("GroupName")
    page.caller.run("ram", "CreateGroup", GroupName=name)
    return page.done(f"Created group {name}.", f"{RAM}/groups/{name}")


def group_detail(page: Page, name: str) -> Response:
    """GET /ram/groups/{name}: its members and policies."""
    group = page.caller.run("ram", "GetGroup", GroupName=name)["Group"]
    members = _optional(page, "ListUsersForGroup", GroupName=name, MaxItems=MAX_ITEMS)
    policies = _optional(page, "ListPoliciesForGroup", GroupName=name)
    may = page.caller.may
    return page.render(
        "ram_group.html",
        group=group,
        members=members["Users"]["User"] if members else None,
        policies=policies["Policies"]["Policy"] if policies else None,
        may={
            "delete": may("ram", "DeleteGroup", GroupName=name),
            "attach": may(
                "ram",
                "AttachPolicyToGroup",
                GroupName=name,
                PolicyType="System",
                PolicyName="AliyunKMSReadOnlyAccess",
            ),
        },
    )


def group_delete(page: Page, name: str) -> Response:
    """POST /ram/groups/{name}/delete."""
    page.caller.run("ram", "DeleteGroup", GroupName=name)
    return page.done(f"Deleted group {name}.", f"{RAM}/groups")


def roles(page: Page) -> Response:
    """GET /ram/roles."""
    listing = page.caller.run("ram", "ListRoles", MaxItems=MAX_ITEMS)
    return page.render(
        "ram_roles.html", roles=listing["Roles"]["Role"], truncated=listing["IsTruncated"]
    )


def role_detail(page: Page, name: str) -> Response:
    """GET /ram/roles/{name}: the role, its trust policy and its policies."""
    role = page.caller.run("ram", "GetRole", RoleName=name)["Role"]
    policies = _optional(page, "ListPoliciesForRole", RoleName=name)
    return page.render(
        "ram_role.html",
        role=role,
        trust=_pretty(role.get("AssumeRolePolicyDocument", "")),
        policies=policies["Policies"]["Policy"] if policies else None,
        may={
            "attach": page.caller.may(
                "ram",
                "AttachPolicyToRole",
                RoleName=name,
                PolicyType="System",
                PolicyName="AliyunKMSReadOnlyAccess",
            ),
        },
    )


def policies(page: Page) -> Response:
    """GET /ram/policies?type=System|Custom."""
    kind = page.request.query.get("type", "")
    params = {"MaxItems": MAX_ITEMS}
    if kind:
        params["PolicyType"] = kind
    listing = page.caller.run("ram", "ListPolicies", **params)
    return page.render(
        "ram_policies.html",
        policies=listing["Policies"]["Policy"],
        kind=kind,
        truncated=listing["IsTruncated"],
    )


def policy_detail(page: Page, kind: str, name: str) -> Response:
    """GET /ram/policies/{type}/{name}: the document and who it is attached to."""
    got = page.caller.run("ram", "GetPolicy", PolicyType=kind, PolicyName=name)
    entities = _optional(page, "ListEntitiesForPolicy", PolicyType=kind, PolicyName=name)
    return page.render(
        "ram_policy.html",
        policy=got["Policy"],
        document=_pretty(got["DefaultPolicyVersion"]["PolicyDocument"]),
        entities=entities,
    )


def _attachment(kind: str, verb: str) -> Any:
    """POST /ram/{kind}s/{name}/{attach|detach}: a policy to or from a user, group or role."""
    action = f"AttachPolicyTo{kind}" if verb == "attach" else f"DetachPolicyFrom{kind}"
    done = "Attached {policy} to {name}." if verb == "attach" else "Detached {policy} from {name}."

    def view(page: Page, name: str) -> Response:
        policy = page.form("PolicyName")
        page.caller.run(
            "ram",
            action,
            **{f"{kind}Name": name},
            PolicyName=policy,
            PolicyType=page.form("PolicyType"),
        )
        return page.done(done.format(policy=policy, name=name), f"{RAM}/{kind.lower()}s/{name}")

    return view


def _membership(verb: str) -> Any:
    """POST /ram/users/{name}/{join|leave}: AddUserToGroup / RemoveUserFromGroup."""
    action = "AddUserToGroup" if verb == "join" else "RemoveUserFromGroup"
    done = "Added {name} to {group}." if verb == "join" else "Removed {name} from {group}."

    def view(page: Page, name: str) -> Response:
        group = page.form("GroupName")
        page.caller.run("ram", action, UserName=name, GroupName=group)
        return page.done(done.format(name=name, group=group), f"{RAM}/users/{name}")

    return view


ROUTES: Final = (
    route("GET", "/ram/users", users),
    route("POST", "/ram/users", user_create),
    route("GET", "/ram/users/{name}", user_detail),
    route("POST", "/ram/users/{name}/delete", user_delete),
    route("POST", "/ram/users/{name}/attach", _attachment("User", "attach")),
    route("POST", "/ram/users/{name}/detach", _attachment("User", "detach")),
    route("POST", "/ram/users/{name}/access-keys", access_key_create),
    route("POST", "/ram/users/{name}/access-keys/delete", access_key_delete),
    route("POST", "/ram/users/{name}/join", _membership("join")),
    route("POST", "/ram/users/{name}/leave", _membership("leave")),
    route("GET", "/ram/groups", groups),
    route("POST", "/ram/groups", group_create),
    route("GET", "/ram/groups/{name}", group_detail),
    route("POST", "/ram/groups/{name}/delete", group_delete),
    route("POST", "/ram/groups/{name}/attach", _attachment("Group", "attach")),
    route("POST", "/ram/groups/{name}/detach", _attachment("Group", "detach")),
    route("GET", "/ram/roles", roles),
    route("GET", "/ram/roles/{name}", role_detail),
    route("POST", "/ram/roles/{name}/attach", _attachment("Role", "attach")),
    route("POST", "/ram/roles/{name}/detach", _attachment("Role", "detach")),
    route("GET", "/ram/policies", policies),
    route("GET", "/ram/policies/{kind}/{name}", policy_detail),
)
