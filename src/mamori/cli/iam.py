"""``mamori iam``: manage RAM users, AccessKeys, groups, roles and policies of a running server.

The commands call the server's RAM API with the administrator's AccessKey, through the plumbing
in ``cli/remote.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.cli.remote import ConfigOpt, DataDirOpt, Remote, console, say, table
from mamori.client._base import RAM

app = typer.Typer(help="Manage RAM identities and policies on a running server.")
users = typer.Typer(help="RAM users.")
keys = typer.Typer(help="AccessKeys of RAM users (or of the administrator).")
groups = typer.Typer(help="RAM groups.")
roles = typer.Typer(help="RAM roles.")
policies = typer.Typer(help="RAM policies and their attachments.")
for _name, _sub in (
    ("users", users),
    ("access-keys", keys),
    ("groups", groups),
    ("roles", roles),
    ("policies", policies),
):
    app.add_typer(_sub, name=_name)

_remote = Remote()
_console = console


@app.callback()
def _options(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    _remote.target(config, data_dir)


def _call(action: str, **params: Any) -> dict[str, Any]:
    return _remote.call(action, RAM, **params)


_table = table


def _pages(action: str, wrapper: str, item: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    marker = None
    while True:
        page = _call(action, Marker=marker, MaxItems=1000, **params)
        found += page.get(wrapper, {}).get(item, [])
        if not page.get("IsTruncated"):
            return found
        marker = page.get("Marker")


def _document(value: str) -> str:
    path = Path(value)
    return path.read_text("utf-8") if path.exists() else value


# -- users ---------------------------------------------------------------------------------------


@users.command("list")
def users_list() -> None:
    """List users."""
    _table("Users", _pages("ListUsers", "Users", "User"), ("UserName", "UserId", "CreateDate"))


@users.command("create")
def users_create(name: str, display_name: str = "", comments: str = "") -> None:
    """Create a user."""
    user = _call("CreateUser", UserName=name, DisplayName=display_name or None, Comments=comments)
    _table("Created", [user["User"]], ("UserName", "UserId", "CreateDate"))


@users.command("delete")
def users_delete(name: str) -> None:
    """Delete a user (it must have no AccessKeys, groups or policies)."""
    _call("DeleteUser", UserName=name)
    say(f"deleted user {name}")


# -- access keys -----------------------------------------------------------------------------------

UserOpt = Annotated[str | None, typer.Option("--user", help="The user (default: administrator)")]


@keys.command("list")
def keys_list(user: UserOpt = None) -> None:
    """List AccessKeys (never their secrets)."""
    found = _call("ListAccessKeys", UserName=user)["AccessKeys"]["AccessKey"]
    _table("AccessKeys", found, ("AccessKeyId", "Status", "CreateDate"))


@keys.command("create")
def keys_create(user: UserOpt = None) -> None:
    """Create an AccessKey; its secret is shown this once."""
    key = _call("CreateAccessKey", UserName=user)["AccessKey"]
    _table(
        "Created (store the secret now: it is not shown again)",
        [key],
        ("AccessKeyId", "AccessKeySecret", "Status"),
    )


@keys.command("disable")
def keys_disable(access_key_id: str, user: UserOpt = None) -> None:
    """Make an AccessKey Inactive."""
    _call("UpdateAccessKey", UserAccessKeyId=access_key_id, Status="Inactive", UserName=user)
    say(f"{access_key_id} is Inactive")


@keys.command("enable")
def keys_enable(access_key_id: str, user: UserOpt = None) -> None:
    """Make an AccessKey Active again."""
    _call("UpdateAccessKey", UserAccessKeyId=access_key_id, Status="Active", UserName=user)
    say(f"{access_key_id} is Active")


@keys.command("delete")
def keys_delete(access_key_id: str, user: UserOpt = None) -> None:
    """Delete an AccessKey; it stops working at once."""
    _call("DeleteAccessKey", UserAccessKeyId=access_key_id, UserName=user)
    say(f"deleted {access_key_id}")


# -- groups ----------------------------------------------------------------------------------------


@groups.command("list")
def groups_list() -> None:
    """List groups."""
    _table("Groups", _pages("ListGroups", "Groups", "Group"), ("GroupName", "GroupId", "Comments"))


@groups.command("create")
def groups_create(name: str, comments: str = "") -> None:
    """Create a group."""
    _call("CreateGroup", GroupName=name, Comments=comments or None)
    say(f"created group {name}")


@groups.command("delete")
def groups_delete(name: str) -> None:
    """Delete a group (it must have no members or policies)."""
    _call("DeleteGroup", GroupName=name)
    say(f"deleted group {name}")


@groups.command("add-user")
def groups_add_user(group: str, user: str) -> None:
    """Add a user to a group."""
    _call("AddUserToGroup", GroupName=group, UserName=user)
    say(f"{user} joined {group}")


@groups.command("remove-user")
def groups_remove_user(group: str, user: str) -> None:
    """Remove a user from a group."""
    _call("RemoveUserFromGroup", GroupName=group, UserName=user)
    say(f"{user} left {group}")


# -- roles -----------------------------------------------------------------------------------------


@roles.command("list")
def roles_list() -> None:
    """List roles."""
    _table("Roles", _pages("ListRoles", "Roles", "Role"), ("RoleName", "Arn", "MaxSessionDuration"))


@roles.command("create")
def roles_create(
    name: str,
    trust: Annotated[str, typer.Option(help="Trust policy: a file or inline JSON")],
    max_session: int = 3600,
    description: str = "",
) -> None:
    """Create a role that the principals named in its trust policy may assume."""
    role = _call(
        "CreateRole",
        RoleName=name,
        AssumeRolePolicyDocument=_document(trust),
        MaxSessionDuration=max_session,
        Description=description or None,
    )["Role"]
    _table("Created", [role], ("RoleName", "Arn", "MaxSessionDuration"))


@roles.command("delete")
def roles_delete(name: str) -> None:
    """Delete a role (it must have no policies attached)."""
    _call("DeleteRole", RoleName=name)
    say(f"deleted role {name}")


# -- policies --------------------------------------------------------------------------------------

TypeOpt = Annotated[str, typer.Option("--type", help="Custom or System")]


@policies.command("list")
def policies_list(policy_type: Annotated[str | None, typer.Option("--type")] = None) -> None:
    """List system and custom policies."""
    found = _pages("ListPolicies", "Policies", "Policy", PolicyType=policy_type)
    _table("Policies", found, ("PolicyName", "PolicyType", "DefaultVersion", "Description"))


@policies.command("create")
def policies_create(
    name: str,
    document: Annotated[str, typer.Option(help="Policy document: a file or inline JSON")],
    description: str = "",
) -> None:
    """Create a custom policy."""
    _call(
        "CreatePolicy",
        PolicyName=name,
        PolicyDocument=_document(document),
        Description=description or None,
    )
    say(f"created policy {name}")


@policies.command("show")
def policies_show(name: str, policy_type: TypeOpt = "Custom") -> None:
    """Print a policy's default document."""
    found = _call("GetPolicy", PolicyName=name, PolicyType=policy_type)
    document = found["DefaultPolicyVersion"]["PolicyDocument"]
    # ensure_ascii: every control character of the document is written as \uXXXX.
    _console.print_json(json.dumps(json.loads(document), ensure_ascii=True))


@policies.command("delete")
def policies_delete(name: str) -> None:
    """Delete a custom policy (it must be detached everywhere)."""
    _call("DeletePolicy", PolicyName=name)
    say(f"deleted policy {name}")


def _target(user: str | None, group: str | None, role: str | None) -> tuple[str, dict[str, str]]:
    chosen = [(k, v) for k, v in (("User", user), ("Group", group), ("Role", role)) if v]
    if len(chosen) != 1:
        raise typer.BadParameter("name exactly one of --user, --group or --role")
    kind, name = chosen[0]
    return kind, {f"{kind}Name": name}


@policies.command("attach")
def policies_attach(
    name: str,
    user: Annotated[str | None, typer.Option("--user")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    policy_type: TypeOpt = "Custom",
) -> None:
    """Attach a policy to a user, group or role."""
    kind, target = _target(user, group, role)
    _call(f"AttachPolicyTo{kind}", PolicyName=name, PolicyType=policy_type, **target)
    say(f"attached {name} to {kind.lower()} {next(iter(target.values()))}")


@policies.command("detach")
def policies_detach(
    name: str,
    user: Annotated[str | None, typer.Option("--user")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    policy_type: TypeOpt = "Custom",
) -> None:
    """Detach a policy from a user, group or role."""
    kind, target = _target(user, group, role)
    _call(f"DetachPolicyFrom{kind}", PolicyName=name, PolicyType=policy_type, **target)
    say(f"detached {name} from {kind.lower()} {next(iter(target.values()))}")
