"""RAM users, AccessKeys and groups through the official RAM SDK (``alibabacloud-ram20150501``),
plus raw JSON through the old SDK core (``CommonRequest``, RPC V1) where the wire shape matters."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram
from alibabacloud_ram20150501.client import Client as RamClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from sqlalchemy import delete, insert, select

from mamori.api.catalogue import RAM_VERSION
from mamori.api.errors import ERRORS
from mamori.api.registry import catalogue
from mamori.config import Settings
from mamori.store import schema as t
from mamori.store.database import Database
from tests.compat.sdk import expect_error, new_sdk, ram_sdk
from tests.conftest import ServerProcess

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
NOTES = Path(__file__).resolve().parents[2] / "docs" / "notes" / "ram-sts-actions.json"
SERVED = {
    "CreateUser", "GetUser", "UpdateUser", "DeleteUser", "ListUsers", "CreateAccessKey",
    "UpdateAccessKey", "DeleteAccessKey", "ListAccessKeys", "CreateGroup", "GetGroup",
    "UpdateGroup", "DeleteGroup", "ListGroups", "AddUserToGroup", "RemoveUserFromGroup",
    "ListGroupsForUser", "ListUsersForGroup",
}  # fmt: skip


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(ram: RamClient) -> RamClient:
    """The administrator's RAM client (shorter name in test bodies)."""
    return ram


@pytest.fixture(scope="module")
def store(server: ServerProcess) -> Iterator[tuple[Database, str]]:
    """The server's store and account, for what the RAM API of this module cannot do."""
    settings = Settings(data_dir=server.data_dir, store_url=server.store_url)
    db = Database(settings.database_url)
    yield db, settings.account_id
    db.close()


@pytest.fixture(scope="module")
def attach(store: tuple[Database, str]) -> Callable[[str, str, bool], None]:
    """Attach (True) or detach (False) a system policy to a ``User``/``Group`` straight in the
    store: the policy actions are another module's."""
    db, account = store

    def run(kind: str, name: str, on: bool) -> None:
        row = {
            "account_id": account,
            "policy_type": "System",
            "policy_name": "AliyunKMSReadOnlyAccess",
            "principal_type": kind,
            "principal_name": name,
        }
        with db.begin() as conn:
            if on:
                conn.execute(insert(t.ram_attachments).values(**row, attached_at=0))
            else:
                conn.execute(
                    delete(t.ram_attachments).where(
                        *(t.ram_attachments.c[k] == v for k, v in row.items())
                    )
                )

    return run


def attached(store: tuple[Database, str], kind: str, name: str) -> list[str]:
    """Names of the policies attached to a principal, read from the store."""
    db, account = store
    with db.read() as conn:
        return list(
            conn.execute(
                select(t.ram_attachments.c.policy_name).where(
                    t.ram_attachments.c.account_id == account,
                    t.ram_attachments.c.principal_type == kind,
                    t.ram_attachments.c.principal_name == name,
                )
            ).scalars()
        )


def name_code(param: str, problem: str) -> str:
    """RAM's sub-code where the error table has it, else the generic InvalidParameter."""
    code = f"InvalidParameter.{param}.{problem}"
    return code if code in ERRORS else "InvalidParameter"


class Raw:
    """The old SDK core's CommonRequest: RPC V1 signatures and the raw JSON body."""

    def __init__(self, server: ServerProcess) -> None:
        self.endpoint = server.endpoint
        self.client = AcsClient(server.access_key_id, server.access_key_secret, "cn-hangzhou")

    def __call__(self, action: str, **params: str) -> dict[str, Any]:
        request = CommonRequest(domain=self.endpoint, version=RAM_VERSION, action_name=action)
        request.set_protocol_type("http")
        request.set_method("POST")
        for name, value in params.items():
            request.add_query_param(name, value)
        result: dict[str, Any] = json.loads(self.client.do_action_with_exception(request))
        return result


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Raw:
    return Raw(server)


def make_user(client: RamClient, name: str | None = None, **fields: Any) -> str:
    name = name or unique()
    client.create_user(ram.CreateUserRequest(user_name=name, **fields))
    return name


def make_group(client: RamClient, name: str | None = None) -> str:
    name = name or unique("g")
    client.create_group(ram.CreateGroupRequest(group_name=name))
    return name


def new_key(client: RamClient, user: str | None = None) -> tuple[str, str]:
    created = client.create_access_key(ram.CreateAccessKeyRequest(user_name=user)).body
    return created.access_key.access_key_id, created.access_key.access_key_secret


def key_ids(client: RamClient, user: str | None = None) -> list[str]:
    body = client.list_access_keys(ram.ListAccessKeysRequest(user_name=user)).body
    return [k.access_key_id for k in body.access_keys.access_key]


def user_exists(client: RamClient, name: str) -> bool:
    try:
        client.get_user(ram.GetUserRequest(user_name=name))
    except Exception as exc:
        assert getattr(exc, "code", "") == "EntityNotExist.User"
        return False
    return True


# -- the catalogue ---------------------------------------------------------------------------


def test_every_identity_action_declares_exactly_the_sdk_parameters() -> None:
    notes = {a["Action"]: a for a in json.loads(NOTES.read_text("utf-8"))["actions"]}
    served = {a.name: a for a in catalogue().all() if a.version == RAM_VERSION}
    assert set(served) >= SERVED
    for name in SERVED:
        action, entry = served[name], notes[name]
        assert action.service == "ram" and action.ram_action == f"ram:{name}"
        assert {p.name for p in action.params} == {p["name"] for p in entry["request"]}, name
        required = {p["name"] for p in entry["request"] if p["required"]}
        assert {p.name for p in action.params if p.required} == required, name


# -- users -----------------------------------------------------------------------------------


def test_create_get_update_list_user(client: RamClient) -> None:
    name = unique()
    created = client.create_user(
        ram.CreateUserRequest(
            user_name=name,
            display_name="Alice Ü",
            mobile_phone="86-18600008888",
            email="alice@example.com",
            comments="first",
        )
    ).body.user
    assert created.user_name == name and created.display_name == "Alice Ü"
    assert re.fullmatch(r"[0-9]{16}", created.user_id)
    assert DATE.fullmatch(created.create_date)
    assert (created.mobile_phone, created.email, created.comments) == (
        "86-18600008888",
        "alice@example.com",
        "first",
    )
    got = client.get_user(ram.GetUserRequest(user_name=name)).body.user
    assert got.user_id == created.user_id and DATE.fullmatch(got.update_date)
    updated = client.update_user(
        ram.UpdateUserRequest(
            user_name=name,
            new_display_name="A",
            new_email="a@example.org",
            new_mobile_phone="1-5550100",
            new_comments="second",
        )
    ).body.user
    assert (updated.display_name, updated.email, updated.mobile_phone, updated.comments) == (
        "A",
        "a@example.org",
        "1-5550100",
        "second",
    )
    assert updated.user_id == created.user_id and updated.create_date == created.create_date
    # Only what is given changes.
    again = client.update_user(ram.UpdateUserRequest(user_name=name, new_comments="third"))
    assert (again.body.user.display_name, again.body.user.comments) == ("A", "third")
    listed = {u.user_name: u for u in all_users(client)}
    assert listed[name].user_id == created.user_id and listed[name].comments == "third"
    client.delete_user(ram.DeleteUserRequest(user_name=name))
    assert not user_exists(client, name)


def test_raw_user_shapes(client: RamClient, raw: Raw) -> None:
    name, other = make_user(client), make_user(client)
    created = raw("GetUser", UserName=name)
    assert set(created["User"]) == {
        "UserId", "UserName", "DisplayName", "MobilePhone", "Email", "Comments", "CreateDate",
        "UpdateDate",
    }  # fmt: skip
    assert created["User"]["DisplayName"] == name  # defaults to the name
    listed = raw("ListUsers", MaxItems="1")
    assert listed["IsTruncated"] is True and isinstance(listed["Marker"], str)
    assert isinstance(listed["Users"]["User"], list) and len(listed["Users"]["User"]) == 1
    for user in (name, other):
        client.delete_user(ram.DeleteUserRequest(user_name=user))


def test_create_user_errors_leave_nothing_behind(client: RamClient) -> None:
    name = unique()
    bad: list[tuple[str, dict[str, Any]]] = [
        (name_code("UserName", "InvalidChars"), {"user_name": "has space"}),
        (name_code("UserName", "Length"), {"user_name": "x" * 65}),
        (name_code("UserName", "InvalidChars"), {"user_name": "bob@corp"}),
        ("InvalidParameter", {"user_name": "root"}),
        ("InvalidParameter", {"user_name": "ROOT"}),
        ("InvalidParameter", {"user_name": name, "display_name": "d" * 129}),
        ("InvalidParameter", {"user_name": name, "display_name": "tab\there"}),
        ("InvalidParameter", {"user_name": name, "comments": "c" * 129}),
        ("InvalidParameter", {"user_name": name, "email": "not-an-email"}),
        ("InvalidParameter", {"user_name": name, "mobile_phone": "18600008888"}),
        ("MissingParameter", {"display_name": "nobody"}),
    ]
    for code, fields in bad:
        expect_error(code, 400, lambda f=fields: client.create_user(ram.CreateUserRequest(**f)))
    assert not user_exists(client, name)
    make_user(client, name)
    expect_error(
        "EntityAlreadyExists.User",
        409,
        lambda: client.create_user(ram.CreateUserRequest(user_name=name)),
    )
    client.delete_user(ram.DeleteUserRequest(user_name=name))


def test_invalid_parameter_names_the_parameter(client: RamClient) -> None:
    error = expect_error(
        "InvalidParameter",
        400,
        lambda: client.create_user(ram.CreateUserRequest(user_name=unique(), email="x")),
    )
    assert '"Email"' in error.message
    error = expect_error(
        name_code("UserName", "InvalidChars"),
        400,
        lambda: client.get_user(ram.GetUserRequest(user_name="a/b")),
    )
    assert '"UserName"' in error.message
    error = expect_error(
        name_code("UserName", "Length"),
        400,
        lambda: client.create_user(ram.CreateUserRequest(user_name="u" * 65)),
    )
    assert '"UserName"' in error.message
    error = expect_error(
        "InvalidParameter",
        400,
        lambda: client.create_user(ram.CreateUserRequest(user_name="Root")),
    )
    assert '"UserName"' in error.message and "reserved" in error.message


def test_missing_user_is_entity_not_exist(client: RamClient) -> None:
    ghost = unique("ghost")
    calls: list[Callable[[], Any]] = [
        lambda: client.get_user(ram.GetUserRequest(user_name=ghost)),
        lambda: client.update_user(ram.UpdateUserRequest(user_name=ghost, new_comments="x")),
        lambda: client.delete_user(ram.DeleteUserRequest(user_name=ghost)),
        lambda: client.list_groups_for_user(ram.ListGroupsForUserRequest(user_name=ghost)),
        lambda: client.create_access_key(ram.CreateAccessKeyRequest(user_name=ghost)),
        lambda: client.list_access_keys(ram.ListAccessKeysRequest(user_name=ghost)),
        lambda: client.update_access_key(
            ram.UpdateAccessKeyRequest(user_name=ghost, user_access_key_id="LTAIx", status="Active")
        ),
        lambda: client.delete_access_key(
            ram.DeleteAccessKeyRequest(user_name=ghost, user_access_key_id="LTAIx")
        ),
    ]
    for call in calls:
        expect_error("EntityNotExist.User", 404, call)
    expect_error(
        "MissingParameter", 400, lambda: client.get_user(ram.GetUserRequest(user_name=None))
    )


def test_rename_carries_keys_groups_and_policies(
    client: RamClient,
    server: ServerProcess,
    attach: Callable[[str, str, bool], None],
    store: tuple[Database, str],
) -> None:
    old, new, group = unique(), unique(), make_group(client)
    make_user(client, old, display_name="Before")
    ak, secret = new_key(client, old)
    client.add_user_to_group(ram.AddUserToGroupRequest(user_name=old, group_name=group))
    user_kms = new_sdk(server.endpoint, ak, secret)
    # The key is accepted (and now cached); the user has no policy.
    expect_error("Forbidden.NoPermission", 403, user_kms.describe_regions)
    attach("User", old, True)
    renamed = client.update_user(
        ram.UpdateUserRequest(user_name=old, new_user_name=new, new_display_name="After")
    ).body.user
    assert (renamed.user_name, renamed.display_name) == (new, "After")
    assert not user_exists(client, old)
    assert key_ids(client, new) == [ak]
    groups = client.list_groups_for_user(ram.ListGroupsForUserRequest(user_name=new)).body
    assert [g.group_name for g in groups.groups.group] == [group]
    members = client.list_users_for_group(ram.ListUsersForGroupRequest(group_name=group)).body
    assert [u.user_name for u in members.users.user] == [new]
    assert attached(store, "User", new) == ["AliyunKMSReadOnlyAccess"]
    assert attached(store, "User", old) == []
    # The key still authenticates after the rename (policy evaluation is not this module's:
    # the attachment goes while the key is used).
    attach("User", new, False)
    expect_error("Forbidden.NoPermission", 403, user_kms.describe_regions)
    attach("User", new, True)
    # Cleanup, which also exercises every DeleteConflict in order.
    expect_error(
        "DeleteConflict.User.AccessKey",
        409,
        lambda: client.delete_user(ram.DeleteUserRequest(user_name=new)),
    )
    client.delete_access_key(ram.DeleteAccessKeyRequest(user_name=new, user_access_key_id=ak))
    expect_error(
        "DeleteConflict.User.Group",
        409,
        lambda: client.delete_user(ram.DeleteUserRequest(user_name=new)),
    )
    client.remove_user_from_group(ram.RemoveUserFromGroupRequest(user_name=new, group_name=group))
    expect_error(
        "DeleteConflict.User.Policy",
        409,
        lambda: client.delete_user(ram.DeleteUserRequest(user_name=new)),
    )
    attach("User", new, False)
    client.delete_user(ram.DeleteUserRequest(user_name=new))
    assert not user_exists(client, new)
    client.delete_group(ram.DeleteGroupRequest(group_name=group))


def test_rename_errors_change_nothing(client: RamClient) -> None:
    first, second = make_user(client, display_name="One"), make_user(client)
    expect_error(
        "EntityAlreadyExists.User",
        409,
        lambda: client.update_user(
            ram.UpdateUserRequest(user_name=first, new_user_name=second, new_display_name="X")
        ),
    )
    for problem, bad in (("InvalidChars", "no spaces"), ("", "root"), ("Length", "y" * 65)):
        expect_error(
            name_code("NewUserName", problem),
            400,
            lambda b=bad: client.update_user(
                ram.UpdateUserRequest(user_name=first, new_user_name=b, new_display_name="X")
            ),
        )
    expect_error(
        "InvalidParameter",
        400,
        lambda: client.update_user(
            ram.UpdateUserRequest(user_name=first, new_display_name="X", new_email="bad")
        ),
    )
    got = client.get_user(ram.GetUserRequest(user_name=first)).body.user
    assert (got.user_name, got.display_name) == (first, "One")
    # Renaming to its own name is a plain update.
    same = client.update_user(ram.UpdateUserRequest(user_name=first, new_user_name=first))
    assert same.body.user.user_name == first
    for name in (first, second):
        client.delete_user(ram.DeleteUserRequest(user_name=name))


def all_users(client: RamClient, page: int = 100) -> list[Any]:
    users: list[Any] = []
    marker = None
    while True:
        body = client.list_users(ram.ListUsersRequest(marker=marker, max_items=page)).body
        users += body.users.user
        assert isinstance(body.is_truncated, bool)
        if not body.is_truncated:
            assert body.marker is None
            return users
        marker = body.marker
        assert marker


def test_list_users_pages_with_an_opaque_marker(client: RamClient) -> None:
    names = {make_user(client, f"page-{uuid.uuid4().hex[:6]}-{i}") for i in range(5)}
    whole = [u.user_name for u in all_users(client)]
    paged = [u.user_name for u in all_users(client, page=2)]
    assert paged == whole and len(set(paged)) == len(paged) and names <= set(paged)
    first = client.list_users(ram.ListUsersRequest(max_items=1)).body
    assert first.is_truncated is True and first.marker != first.users.user[0].user_name
    for bad in (0, 1001):
        expect_error(
            "InvalidParameter",
            400,
            lambda b=bad: client.list_users(ram.ListUsersRequest(max_items=b)),
        )
    expect_error(
        "InvalidParameter",
        400,
        lambda: client.list_users(ram.ListUsersRequest(marker="!!not a marker!!")),
    )
    for name in names:
        client.delete_user(ram.DeleteUserRequest(user_name=name))


# -- AccessKeys ------------------------------------------------------------------------------


def test_access_keys_of_a_user(client: RamClient, raw: Raw) -> None:
    name = make_user(client)
    assert raw("ListAccessKeys", UserName=name)["AccessKeys"] == {"AccessKey": []}
    created = client.create_access_key(ram.CreateAccessKeyRequest(user_name=name)).body.access_key
    assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", created.access_key_id)
    assert len(created.access_key_secret) >= 30 and created.status == "Active"
    assert DATE.fullmatch(created.create_date)
    second, _ = new_key(client, name)
    expect_error(
        "LimitExceeded.User.AccessKey",
        409,
        lambda: client.create_access_key(ram.CreateAccessKeyRequest(user_name=name)),
    )
    listed = raw("ListAccessKeys", UserName=name)["AccessKeys"]["AccessKey"]
    assert sorted(k["AccessKeyId"] for k in listed) == sorted([created.access_key_id, second])
    assert all(set(k) == {"AccessKeyId", "Status", "CreateDate"} for k in listed)
    client.update_access_key(
        ram.UpdateAccessKeyRequest(user_name=name, user_access_key_id=second, status="Inactive")
    )
    statuses = client.list_access_keys(ram.ListAccessKeysRequest(user_name=name)).body
    assert {k.access_key_id: k.status for k in statuses.access_keys.access_key} == {
        created.access_key_id: "Active",
        second: "Inactive",
    }
    for key in (created.access_key_id, second):
        client.delete_access_key(ram.DeleteAccessKeyRequest(user_name=name, user_access_key_id=key))
    assert key_ids(client, name) == []
    client.delete_user(ram.DeleteUserRequest(user_name=name))


def test_access_key_errors(client: RamClient) -> None:
    alice, bob = make_user(client), make_user(client)
    ak, _ = new_key(client, alice)
    wrong_owner: list[Callable[[], Any]] = [
        lambda: client.update_access_key(
            ram.UpdateAccessKeyRequest(user_name=bob, user_access_key_id=ak, status="Inactive")
        ),
        lambda: client.delete_access_key(
            ram.DeleteAccessKeyRequest(user_name=bob, user_access_key_id=ak)
        ),
        # Without UserName the administrator's own keys are meant.
        lambda: client.delete_access_key(ram.DeleteAccessKeyRequest(user_access_key_id=ak)),
        lambda: client.update_access_key(
            ram.UpdateAccessKeyRequest(
                user_name=alice, user_access_key_id="LTAInope", status="Active"
            )
        ),
    ]
    for call in wrong_owner:
        expect_error("EntityNotExist.User.AccessKey", 404, call)
    expect_error(
        "InvalidParameter",
        400,
        lambda: client.update_access_key(
            ram.UpdateAccessKeyRequest(user_name=alice, user_access_key_id=ak, status="Disabled")
        ),
    )
    expect_error(
        "MissingParameter",
        400,
        lambda: client.update_access_key(
            ram.UpdateAccessKeyRequest(user_name=alice, user_access_key_id=ak)
        ),
    )
    expect_error(
        "MissingParameter",
        400,
        lambda: client.delete_access_key(ram.DeleteAccessKeyRequest(user_name=alice)),
    )
    # ``root`` is never a user: no way to reach the administrator's keys by name.
    expect_error(
        "InvalidParameter",
        400,
        lambda: client.create_access_key(ram.CreateAccessKeyRequest(user_name="root")),
    )
    expect_error(
        name_code("UserName", "InvalidChars"),
        400,
        lambda: client.list_access_keys(ram.ListAccessKeysRequest(user_name="../x")),
    )
    assert key_ids(client, alice) == [ak]
    client.delete_access_key(ram.DeleteAccessKeyRequest(user_name=alice, user_access_key_id=ak))
    for name in (alice, bob):
        client.delete_user(ram.DeleteUserRequest(user_name=name))


def test_the_administrators_own_keys(client: RamClient, server: ServerProcess) -> None:
    before = key_ids(client)
    assert server.access_key_id in before
    made = [new_key(client) for _ in range(2)]  # not limited to two for the administrator
    assert set(key_ids(client)) == set(before) | {ak for ak, _ in made}
    extra = ram_sdk(server.endpoint, *made[0])
    assert server.access_key_id in key_ids(extra)  # the new key acts as the administrator
    extra.update_access_key(
        ram.UpdateAccessKeyRequest(user_access_key_id=made[1][0], status="Inactive")
    )
    expect_error(
        "InvalidAccessKeyId.Inactive", 400, lambda: key_ids(ram_sdk(server.endpoint, *made[1]))
    )
    for ak, _ in made:
        client.delete_access_key(ram.DeleteAccessKeyRequest(user_access_key_id=ak))
    assert sorted(key_ids(client)) == sorted(before)
    expect_error(
        "InvalidAccessKeyId.NotFound", 404, lambda: key_ids(ram_sdk(server.endpoint, *made[0]))
    )


def test_key_status_takes_effect_on_the_next_request(
    client: RamClient, server: ServerProcess
) -> None:
    name = make_user(client)
    ak, secret = new_key(client, name)
    user_kms = new_sdk(server.endpoint, ak, secret)
    user_ram = ram_sdk(server.endpoint, ak, secret)

    def describe_regions() -> Any:
        return user_kms.describe_regions()

    # Accepted, but the user has no policy.
    expect_error("Forbidden.NoPermission", 403, describe_regions)
    error = expect_error("Forbidden.NoPermission", 403, lambda: key_ids(user_ram))
    assert "ram:ListAccessKeys" in error.message
    client.update_access_key(
        ram.UpdateAccessKeyRequest(user_name=name, user_access_key_id=ak, status="Inactive")
    )
    expect_error("InvalidAccessKeyId.Inactive", 400, describe_regions)
    client.update_access_key(
        ram.UpdateAccessKeyRequest(user_name=name, user_access_key_id=ak, status="Active")
    )
    expect_error("Forbidden.NoPermission", 403, describe_regions)
    client.delete_access_key(ram.DeleteAccessKeyRequest(user_name=name, user_access_key_id=ak))
    expect_error("InvalidAccessKeyId.NotFound", 404, describe_regions)
    client.delete_user(ram.DeleteUserRequest(user_name=name))


# -- groups ----------------------------------------------------------------------------------


def test_group_lifecycle(client: RamClient, raw: Raw) -> None:
    name, renamed = unique("g"), unique("g")
    created = client.create_group(ram.CreateGroupRequest(group_name=name, comments="ops")).body
    group = created.group
    assert (group.group_name, group.comments) == (name, "ops")
    assert re.fullmatch(r"[0-9]{16}", group.group_id) and DATE.fullmatch(group.create_date)
    got = client.get_group(ram.GetGroupRequest(group_name=name)).body.group
    assert got.group_id == group.group_id and DATE.fullmatch(got.update_date)
    assert raw("ListUsersForGroup", GroupName=name)["Users"] == {"User": []}
    assert raw("ListUsersForGroup", GroupName=name)["IsTruncated"] is False
    updated = client.update_group(
        ram.UpdateGroupRequest(group_name=name, new_group_name=renamed, new_comments="dev")
    ).body.group
    assert (updated.group_name, updated.comments, updated.group_id) == (
        renamed,
        "dev",
        group.group_id,
    )
    expect_error(
        "EntityNotExist.Group", 404, lambda: client.get_group(ram.GetGroupRequest(group_name=name))
    )
    kept = client.update_group(ram.UpdateGroupRequest(group_name=renamed, new_comments="x"))
    assert kept.body.group.group_name == renamed
    listed = all_groups(client)
    assert renamed in {g.group_name for g in listed} and name not in {g.group_name for g in listed}
    client.delete_group(ram.DeleteGroupRequest(group_name=renamed))
    expect_error(
        "EntityNotExist.Group",
        404,
        lambda: client.get_group(ram.GetGroupRequest(group_name=renamed)),
    )


def all_groups(client: RamClient, page: int = 100) -> list[Any]:
    groups: list[Any] = []
    marker = None
    while True:
        body = client.list_groups(ram.ListGroupsRequest(marker=marker, max_items=page)).body
        groups += body.groups.group
        if not body.is_truncated:
            assert body.is_truncated is False and body.marker is None
            return groups
        marker = body.marker


def test_list_groups_pages(client: RamClient) -> None:
    names = {make_group(client) for _ in range(5)}
    whole = [g.group_name for g in all_groups(client)]
    paged = [g.group_name for g in all_groups(client, page=2)]
    assert paged == whole and names <= set(paged) and len(set(paged)) == len(paged)
    expect_error(
        "InvalidParameter", 400, lambda: client.list_groups(ram.ListGroupsRequest(max_items=0))
    )
    for name in names:
        client.delete_group(ram.DeleteGroupRequest(group_name=name))


def test_group_errors(client: RamClient, attach: Callable[[str, str, bool], None]) -> None:
    ghost = unique("ghost")
    for call in (
        lambda: client.get_group(ram.GetGroupRequest(group_name=ghost)),
        lambda: client.update_group(ram.UpdateGroupRequest(group_name=ghost, new_comments="x")),
        lambda: client.delete_group(ram.DeleteGroupRequest(group_name=ghost)),
        lambda: client.list_users_for_group(ram.ListUsersForGroupRequest(group_name=ghost)),
    ):
        expect_error("EntityNotExist.Group", 404, call)
    first, second = make_group(client), make_group(client)
    expect_error(
        "EntityAlreadyExists.Group",
        409,
        lambda: client.create_group(ram.CreateGroupRequest(group_name=first)),
    )
    expect_error(
        "EntityAlreadyExists.Group",
        409,
        lambda: client.update_group(
            ram.UpdateGroupRequest(group_name=first, new_group_name=second, new_comments="x")
        ),
    )
    for code, fields in (
        (name_code("GroupName", "InvalidChars"), {"group_name": "a b"}),
        (name_code("GroupName", "Length"), {"group_name": "g" * 65}),
        ("InvalidParameter", {"group_name": unique("g"), "comments": "c" * 129}),
    ):
        expect_error(code, 400, lambda f=fields: client.create_group(ram.CreateGroupRequest(**f)))
    expect_error(
        name_code("GroupName", "InvalidChars"),
        400,
        lambda: client.get_group(ram.GetGroupRequest(group_name="a*")),
    )
    expect_error(
        name_code("NewGroupName", "InvalidChars"),
        400,
        lambda: client.update_group(
            ram.UpdateGroupRequest(group_name=first, new_group_name="bad name", new_comments="y")
        ),
    )
    assert client.get_group(ram.GetGroupRequest(group_name=first)).body.group.comments == ""
    user = make_user(client)
    client.add_user_to_group(ram.AddUserToGroupRequest(user_name=user, group_name=first))
    expect_error(
        "DeleteConflict.Group.User",
        409,
        lambda: client.delete_group(ram.DeleteGroupRequest(group_name=first)),
    )
    client.remove_user_from_group(ram.RemoveUserFromGroupRequest(user_name=user, group_name=first))
    attach("Group", first, True)
    expect_error(
        "DeleteConflict.Group.Policy",
        409,
        lambda: client.delete_group(ram.DeleteGroupRequest(group_name=first)),
    )
    attach("Group", first, False)
    for group in (first, second):
        client.delete_group(ram.DeleteGroupRequest(group_name=group))
    client.delete_user(ram.DeleteUserRequest(user_name=user))


def test_memberships(client: RamClient, raw: Raw) -> None:
    group, other = make_group(client), make_group(client)
    users = sorted(make_user(client, display_name=f"D{i}") for i in range(5))
    assert raw("ListGroupsForUser", UserName=users[0])["Groups"] == {"Group": []}
    for user in users:
        client.add_user_to_group(ram.AddUserToGroupRequest(user_name=user, group_name=group))
    client.add_user_to_group(ram.AddUserToGroupRequest(user_name=users[0], group_name=other))
    expect_error(
        "EntityAlreadyExists.User.Group",
        409,
        lambda: client.add_user_to_group(
            ram.AddUserToGroupRequest(user_name=users[0], group_name=group)
        ),
    )
    joined = client.list_groups_for_user(ram.ListGroupsForUserRequest(user_name=users[0]))
    items = {g.group_name: g for g in joined.body.groups.group}
    assert set(items) == {group, other}
    assert all(DATE.fullmatch(g.join_date) and g.group_id for g in items.values())
    # ListUsersForGroup pages.
    seen: list[Any] = []
    marker = None
    while True:
        body = client.list_users_for_group(
            ram.ListUsersForGroupRequest(group_name=group, marker=marker, max_items=2)
        ).body
        seen += body.users.user
        if not body.is_truncated:
            assert body.marker is None
            break
        assert len(body.users.user) == 2
        marker = body.marker
    assert sorted(u.user_name for u in seen) == users
    assert all(DATE.fullmatch(u.join_date) and u.display_name.startswith("D") for u in seen)
    raw_page = raw("ListUsersForGroup", GroupName=group, MaxItems="2")
    assert raw_page["IsTruncated"] is True and set(raw_page["Users"]["User"][0]) == {
        "UserName",
        "DisplayName",
        "JoinDate",
    }
    ghost = unique("ghost")
    expect_error(
        "EntityNotExist.User",
        404,
        lambda: client.add_user_to_group(
            ram.AddUserToGroupRequest(user_name=ghost, group_name=group)
        ),
    )
    expect_error(
        "EntityNotExist.Group",
        404,
        lambda: client.add_user_to_group(
            ram.AddUserToGroupRequest(user_name=users[0], group_name=ghost)
        ),
    )
    expect_error(
        "EntityNotExist.User",
        404,
        lambda: client.remove_user_from_group(
            ram.RemoveUserFromGroupRequest(user_name=ghost, group_name=group)
        ),
    )
    expect_error(
        "EntityNotExist.Group",
        404,
        lambda: client.remove_user_from_group(
            ram.RemoveUserFromGroupRequest(user_name=users[0], group_name=ghost)
        ),
    )
    expect_error(
        "MissingParameter",
        400,
        lambda: client.add_user_to_group(ram.AddUserToGroupRequest(group_name=group)),
    )
    for user in users:
        client.remove_user_from_group(
            ram.RemoveUserFromGroupRequest(user_name=user, group_name=group)
        )
    expect_error(
        "EntityNotExist.User.Group",
        404,
        lambda: client.remove_user_from_group(
            ram.RemoveUserFromGroupRequest(user_name=users[1], group_name=group)
        ),
    )
    client.remove_user_from_group(
        ram.RemoveUserFromGroupRequest(user_name=users[0], group_name=other)
    )
    for user in users:
        client.delete_user(ram.DeleteUserRequest(user_name=user))
    for name in (group, other):
        client.delete_group(ram.DeleteGroupRequest(group_name=name))


# -- other signatures ------------------------------------------------------------------------


def test_old_sdk_core_and_v2_signatures(client: RamClient, raw: Raw, server: ServerProcess) -> None:
    name = unique()
    created = raw("CreateUser", UserName=name, DisplayName="Old")
    assert created["User"]["UserName"] == name and "UpdateDate" not in created["User"]
    with pytest.raises(ServerException) as info:
        raw("CreateUser", UserName=name)
    assert (info.value.get_error_code(), info.value.get_http_status()) == (
        "EntityAlreadyExists.User",
        409,
    )
    v2 = ram_sdk(
        server.endpoint, server.access_key_id, server.access_key_secret, signature_algorithm="v2"
    )
    assert v2.get_user(ram.GetUserRequest(user_name=name)).body.user.display_name == "Old"
    raw("DeleteUser", UserName=name)
    assert not user_exists(client, name)
