"""RAM users and their AccessKeys (API 2015-05-01)."""

from __future__ import annotations

from dataclasses import replace

from mamori.api.catalogue import Action, Args, Call, Handler, Result
from mamori.api.dispatch import require
from mamori.api.errors import missing
from mamori.api.params import Param, Str
from mamori.api.ram.common import (
    MARKER,
    MAX_ITEMS,
    comments,
    display_name,
    email,
    identities,
    mobile_phone,
    page_fields,
    page_request,
    ram_account_resource,
    ram_action,
    user_arn,
    user_json,
    user_name,
    user_resource,
)
from mamori.core.model import iso
from mamori.iam.access_keys import ACTIVE, INACTIVE

USER_NAME = user_name("UserName", required=True)
ACCESS_KEY_ID = Str("UserAccessKeyId", required=True, max_len=64)


def create_user(call: Call, args: Args) -> Result:
    """CreateUser."""
    user = identities(call).directory.create_user(
        call.scope.account_id,
        args["UserName"],
        display_name=args["DisplayName"],
        email=args["Email"],
        mobile_phone=args["MobilePhone"],
        comments=args["Comments"],
    )
    return {"User": user_json(user, updated=False)}


def get_user(call: Call, args: Args) -> Result:
    """GetUser."""
    return {
        "User": user_json(
            identities(call).directory.get_user(call.scope.account_id, args["UserName"])
        )
    }


def update_user(call: Call, args: Args) -> Result:
    """UpdateUser; NewUserName renames (AccessKeys, groups and policies follow), which needs
    ``ram:UpdateUser`` on the new name too: else a user could rename itself into a name that a
    policy trusts."""
    if args["NewUserName"] is not None:
        require(call, "ram:UpdateUser", user_arn(call.scope, args["NewUserName"]))
    user = identities(call).directory.update_user(
        call.scope.account_id,
        args["UserName"],
        new_name=args["NewUserName"],
        display_name=args["NewDisplayName"],
        email=args["NewEmail"],
        mobile_phone=args["NewMobilePhone"],
        comments=args["NewComments"],
    )
    return {"User": user_json(user)}


def delete_user(call: Call, args: Args) -> Result:
    """DeleteUser."""
    identities(call).directory.delete_user(call.scope.account_id, args["UserName"])
    return {}


def list_users(call: Call, args: Args) -> Result:
    """ListUsers (Marker/MaxItems paging, by name)."""
    after, limit = page_request(args)
    users, more = identities(call).directory.list_users(call.scope.account_id, after, limit)
    return {
        "Users": {"User": [user_json(u) for u in users]},
        **page_fields(more, users[-1].name if users else None),
    }


def _key_owner(call: Call, args: Args, action: str) -> tuple[str, bool]:
    """Whose AccessKeys the call acts on, (principal, is a RAM user), once the caller may:
    UserName's (which must exist), else the caller's own. The action is authorized on that
    user's ARN, the caller's own when UserName is absent (never ``user/*``): so a self-service
    policy on the caller's ARN covers it, and a Deny on that ARN applies. A role session has no
    AccessKeys of its own."""
    name: str | None = args["UserName"]
    if name is None:
        if call.principal.role is not None:
            raise missing("UserName")
        require(call, action, call.principal.arn)
        return call.principal.name, not call.principal.is_admin
    require(call, action, user_arn(call.scope, name))
    identities(call).directory.get_user(call.scope.account_id, name)
    return name, True


def create_access_key(call: Call, args: Args) -> Result:
    """CreateAccessKey: the only response that carries the secret; two per RAM user."""
    principal, ram_user = _key_owner(call, args, "ram:CreateAccessKey")
    created = identities(call).access_keys.issue(
        call.scope.account_id, principal, ram_user=ram_user
    )
    return {
        "AccessKey": {
            "AccessKeyId": created.access_key_id,
            "AccessKeySecret": created.secret,
            "Status": created.status,
            "CreateDate": iso(created.created_at),
        }
    }


def update_access_key(call: Call, args: Args) -> Result:
    """UpdateAccessKey: Inactive takes effect on the key's next request."""
    owner, _ = _key_owner(call, args, "ram:UpdateAccessKey")
    identities(call).access_keys.set_status(
        call.scope.account_id, owner, args["UserAccessKeyId"], args["Status"]
    )
    return {}


def delete_access_key(call: Call, args: Args) -> Result:
    """DeleteAccessKey: the key stops working on its next request."""
    owner, _ = _key_owner(call, args, "ram:DeleteAccessKey")
    identities(call).access_keys.delete(call.scope.account_id, owner, args["UserAccessKeyId"])
    return {}


def list_access_keys(call: Call, args: Args) -> Result:
    """ListAccessKeys (not paged; never a secret)."""
    owner, _ = _key_owner(call, args, "ram:ListAccessKeys")
    keys = identities(call).access_keys.listing(call.scope.account_id, owner)
    return {
        "AccessKeys": {
            "AccessKey": [
                {
                    "AccessKeyId": k.access_key_id,
                    "Status": k.status,
                    "CreateDate": iso(k.created_at),
                }
                for k in keys
            ]
        }
    }


OPTIONAL_USER = user_name("UserName")


def _access_key_action(
    name: str, params: tuple[Param, ...], handler: Handler, read_only: bool = False
) -> Action:
    """An AccessKey action: its handler authorizes it (``_key_owner``), because the user it acts
    on may be the caller, whom the catalogue's resource hook cannot see."""
    action = ram_action(name, params, handler, user_resource, read_only=read_only)
    return replace(action, authorize=False)


ACTIONS: tuple[Action, ...] = (
    ram_action(
        "CreateUser",
        (
            USER_NAME,
            display_name("DisplayName"),
            mobile_phone("MobilePhone"),
            email("Email"),
            comments("Comments"),
        ),
        create_user,
        user_resource,
    ),
    ram_action("GetUser", (USER_NAME,), get_user, user_resource, read_only=True),
    ram_action(
        "UpdateUser",
        (
            USER_NAME,
            user_name("NewUserName"),
            display_name("NewDisplayName"),
            mobile_phone("NewMobilePhone"),
            email("NewEmail"),
            comments("NewComments"),
        ),
        update_user,
        user_resource,
    ),
    ram_action("DeleteUser", (USER_NAME,), delete_user, user_resource),
    ram_action("ListUsers", (MARKER, MAX_ITEMS), list_users, ram_account_resource, read_only=True),
    _access_key_action("CreateAccessKey", (OPTIONAL_USER,), create_access_key),
    _access_key_action(
        "UpdateAccessKey",
        (ACCESS_KEY_ID, Str("Status", required=True, choices=(ACTIVE, INACTIVE)), OPTIONAL_USER),
        update_access_key,
    ),
    _access_key_action("DeleteAccessKey", (ACCESS_KEY_ID, OPTIONAL_USER), delete_access_key),
    _access_key_action("ListAccessKeys", (OPTIONAL_USER,), list_access_keys, read_only=True),
)
