"""RAM roles, policies, versions and attachments through the official RAM SDK
(``alibabacloud-ram20150501``): shapes and JSON types as the SDK reads them, paging, and every
documented error with its HTTP status."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from mamori.api.catalogue import RAM_VERSION
from mamori.api.registry import catalogue
from tests.compat.ram_helpers import allow, doc, new_user, unique
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess

NOTES = Path(__file__).resolve().parents[2] / "docs" / "notes" / "ram-sts-actions.json"

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
TRUST = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["*"]}})
POLICY = doc(allow("kms:Describe*"))


@pytest.fixture
def role(ram: RamClient) -> Iterator[str]:
    """A fresh role, deleted afterwards if the test left it attached-free."""
    name = unique("role")
    ram.create_role(rm.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST))
    yield name
    with contextlib.suppress(Exception):  # the test may have deleted it already
        ram.delete_role(rm.DeleteRoleRequest(role_name=name))


@pytest.fixture
def policy(ram: RamClient) -> str:
    """A fresh custom policy."""
    name = unique("pol")
    ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=POLICY))
    return name


@pytest.fixture
def user(ram: RamClient) -> str:
    """A fresh RAM user (no AccessKey)."""
    name = unique("u")
    ram.create_user(rm.CreateUserRequest(user_name=name))
    return name


@pytest.fixture
def group(ram: RamClient) -> str:
    """A fresh group."""
    name = unique("g")
    ram.create_group(rm.CreateGroupRequest(group_name=name))
    return name


def err(code: str, status: int, call: Callable[[], Any]) -> None:
    expect_error(code, status, call)


def fails(code: str, status: int, method: Callable[[Any], Any], request: Any) -> None:
    """``method(request)`` raises exactly this error code and HTTP status."""
    expect_error(code, status, lambda: method(request))


# -- roles --------------------------------------------------------------------------------------


def test_role_lifecycle_and_shapes(ram: RamClient) -> None:
    name = unique("Role")
    tags = [rm.CreateRoleRequestTag(key="env", value="prod")]
    created = ram.create_role(
        rm.CreateRoleRequest(
            role_name=name,
            assume_role_policy_document=TRUST,
            description="for tests",
            max_session_duration=7200,
            tag=tags,
        )
    ).body.role
    assert created.role_name == name and created.role_id.isdigit()
    assert created.arn.endswith(f":role/{name}") and created.arn.startswith("acs:ram::")
    assert created.max_session_duration == 7200 and created.allow_console_login is False
    assert created.assume_role_policy_document == TRUST and DATE.fullmatch(created.create_date)

    got = ram.get_role(rm.GetRoleRequest(role_name=name.lower())).body.role
    assert (got.role_id, got.role_name, got.description) == (created.role_id, name, "for tests")
    assert got.is_service_linked_role is False and DATE.fullmatch(got.update_date)

    updated = ram.update_role(
        rm.UpdateRoleRequest(
            role_name=name,
            new_description="changed",
            new_max_session_duration=43200,
            new_assume_role_policy_document=TRUST,
        )
    ).body.role
    assert (updated.description, updated.max_session_duration) == ("changed", 43200)

    listed = ram.list_roles(
        rm.ListRolesRequest(tag=[rm.ListRolesRequestTag(key="env", value="prod")])
    )
    mine = [r for r in listed.body.roles.role if r.role_name == name]
    assert len(mine) == 1 and "AssumeRolePolicyDocument" not in mine[0].to_map()
    assert [(t.tag_key, t.tag_value) for t in mine[0].tags.tag] == [("env", "prod")]
    assert listed.body.is_truncated is False and listed.body.marker is None

    ram.delete_role(rm.DeleteRoleRequest(role_name=name))
    err("EntityNotExist.Role", 404, lambda: ram.get_role(rm.GetRoleRequest(role_name=name)))


def test_list_roles_pages_with_marker(ram: RamClient) -> None:
    prefix = unique("pg")
    names = [f"{prefix}-{i}" for i in range(3)]
    tag = [rm.CreateRoleRequestTag(key="page", value=prefix)]
    for n in names:
        ram.create_role(
            rm.CreateRoleRequest(role_name=n, assume_role_policy_document=TRUST, tag=tag)
        )
    wanted = [rm.ListRolesRequestTag(key="page", value=prefix)]
    seen: list[str] = []
    marker = None
    while True:
        body = ram.list_roles(rm.ListRolesRequest(max_items=2, marker=marker, tag=wanted)).body
        seen += [r.role_name for r in body.roles.role]
        if not body.is_truncated:
            assert body.marker is None
            break
        marker = body.marker
    assert seen == names
    everything = ram.list_roles(rm.ListRolesRequest(max_items=1000)).body.roles.role
    assert names[0] in [r.role_name for r in everything]
    for n in names:
        ram.delete_role(rm.DeleteRoleRequest(role_name=n))


def test_role_errors(ram: RamClient, role: str, policy: str) -> None:
    def create(**kw: Any) -> Callable[[], Any]:
        fields = {"role_name": unique("r"), "assume_role_policy_document": TRUST, **kw}
        return lambda: ram.create_role(rm.CreateRoleRequest(**fields))

    err("InvalidParameter.RoleName.InvalidChars", 400, create(role_name="bad_name"))
    err("InvalidParameter.RoleName.Length", 400, create(role_name="r" * 65))
    err("MissingParameter", 400, create(role_name=None))
    err("MissingParameter", 400, create(assume_role_policy_document=None))
    err(
        "InvalidParameter.AssumeRolePolicyDocument.Length",
        400,
        create(assume_role_policy_document=" " * 6145),
    )
    err("MalformedPolicyDocument", 400, create(assume_role_policy_document="{"))
    err("MalformedPolicyDocument", 400, create(assume_role_policy_document=POLICY))
    err("InvalidParameter", 400, create(max_session_duration=3599))
    err("InvalidParameter.Description.Length", 400, create(description="d" * 1025))
    err("EntityAlreadyExists.Role", 409, create(role_name=role))
    err("EntityAlreadyExists.Role", 409, create(role_name=role.upper()))

    missing = unique("none")
    fails("EntityNotExist.Role", 404, ram.get_role, rm.GetRoleRequest(role_name=missing))
    bad = rm.GetRoleRequest(role_name="a b")
    fails("InvalidParameter.RoleName.InvalidChars", 400, ram.get_role, bad)
    update = ram.update_role
    fails("EntityNotExist.Role", 404, update, rm.UpdateRoleRequest(role_name=missing))
    malformed = rm.UpdateRoleRequest(role_name=role, new_assume_role_policy_document="{}")
    fails("MalformedPolicyDocument", 400, update, malformed)
    long = rm.UpdateRoleRequest(role_name=role, new_assume_role_policy_document="x" * 6145)
    fails("InvalidParameter.NewAssumeRolePolicyDocument.Length", 400, update, long)
    duration = rm.UpdateRoleRequest(role_name=role, new_max_session_duration=43201)
    fails("InvalidParameter", 400, update, duration)
    got = ram.get_role(rm.GetRoleRequest(role_name=role)).body.role
    assert got.assume_role_policy_document == TRUST and got.max_session_duration == 3600
    fails("EntityNotExist.Role", 404, ram.delete_role, rm.DeleteRoleRequest(role_name=missing))

    attached = {"policy_type": "Custom", "policy_name": policy, "role_name": role}
    ram.attach_policy_to_role(rm.AttachPolicyToRoleRequest(**attached))
    fails("DeleteConflict.Role.Policy", 409, ram.delete_role, rm.DeleteRoleRequest(role_name=role))
    ram.detach_policy_from_role(rm.DetachPolicyFromRoleRequest(**attached))
    fails("InvalidParameter", 400, ram.list_roles, rm.ListRolesRequest(max_items=1001))
    fails("InvalidParameter", 400, ram.list_roles, rm.ListRolesRequest(max_items=0))
    fails("InvalidParameter", 400, ram.list_roles, rm.ListRolesRequest(marker="%%%"))


# -- policies and versions ----------------------------------------------------------------------


def test_policy_lifecycle_and_shapes(ram: RamClient) -> None:
    name = unique("Pol")
    created = ram.create_policy(
        rm.CreatePolicyRequest(
            policy_name=name,
            policy_document=POLICY,
            description="reads",
            tag=[rm.CreatePolicyRequestTag(key="team", value="a")],
        )
    ).body.policy
    assert (created.policy_name, created.policy_type, created.default_version) == (
        name, "Custom", "v1"
    )  # fmt: skip
    assert created.description == "reads" and DATE.fullmatch(created.create_date)

    got = ram.get_policy(rm.GetPolicyRequest(policy_name=name, policy_type="Custom")).body
    assert got.policy.attachment_count == 0 and got.policy.policy_document == POLICY
    assert got.default_policy_version.is_default_version is True
    assert (got.default_policy_version.version_id, got.default_policy_version.policy_document) == (
        "v1", POLICY
    )  # fmt: skip

    v2 = ram.create_policy_version(
        rm.CreatePolicyVersionRequest(policy_name=name, policy_document=doc(allow("kms:List*")))
    ).body.policy_version
    assert (v2.version_id, v2.is_default_version) == ("v2", False)
    ram.set_default_policy_version(
        rm.SetDefaultPolicyVersionRequest(policy_name=name, version_id="v2")
    )
    versions = ram.list_policy_versions(
        rm.ListPolicyVersionsRequest(policy_name=name, policy_type="Custom")
    ).body.policy_versions.policy_version
    assert [(v.version_id, v.is_default_version) for v in versions] == [
        ("v1", False), ("v2", True)
    ]  # fmt: skip
    one = ram.get_policy_version(
        rm.GetPolicyVersionRequest(policy_name=name, policy_type="Custom", version_id="v1")
    ).body.policy_version
    assert (one.policy_document, one.is_default_version) == (POLICY, False)
    ram.delete_policy_version(rm.DeletePolicyVersionRequest(policy_name=name, version_id="v1"))

    listed = ram.list_policies(
        rm.ListPoliciesRequest(policy_type="Custom", tag=[rm.ListPoliciesRequestTag(key="team")])
    ).body
    mine = [p for p in listed.policies.policy if p.policy_name == name]
    assert len(mine) == 1 and mine[0].default_version == "v2"
    assert mine[0].attachment_count == 0
    assert [(t.tag_key, t.tag_value) for t in mine[0].tags.tag] == [("team", "a")]
    ram.delete_policy(rm.DeletePolicyRequest(policy_name=name))
    err(
        "EntityNotExist.Policy",
        404,
        lambda: ram.get_policy(rm.GetPolicyRequest(policy_name=name, policy_type="Custom")),
    )


def test_system_policies_are_listed_and_readable(ram: RamClient) -> None:
    body = ram.list_policies(rm.ListPoliciesRequest(policy_type="System")).body
    names = [p.policy_name for p in body.policies.policy]
    assert "AliyunKMSCryptoUserAccess" in names and all(
        p.policy_type == "System" for p in body.policies.policy
    )
    got = ram.get_policy(
        rm.GetPolicyRequest(policy_name="AliyunKMSFullAccess", policy_type="System")
    ).body
    assert json.loads(got.default_policy_version.policy_document)["Statement"][0]["Action"] == [
        "kms:*"
    ]
    versions = ram.list_policy_versions(
        rm.ListPolicyVersionsRequest(policy_name="AliyunKMSFullAccess", policy_type="System")
    ).body.policy_versions.policy_version
    assert [v.version_id for v in versions] == ["v1"]


def test_list_policies_pages_system_then_custom(ram: RamClient) -> None:
    seen: list[tuple[str, str]] = []
    marker = None
    while True:
        body = ram.list_policies(rm.ListPoliciesRequest(max_items=3, marker=marker)).body
        seen += [(p.policy_type, p.policy_name) for p in body.policies.policy]
        if not body.is_truncated:
            break
        marker = body.marker
    everything = ram.list_policies(rm.ListPoliciesRequest(max_items=1000)).body.policies.policy
    assert seen == [(p.policy_type, p.policy_name) for p in everything]
    types = [t for t, _ in seen]
    assert types == sorted(types, key=lambda t: t != "System")


def test_delete_policy_rules(ram: RamClient, user: str, group: str, role: str) -> None:
    name = unique("del")
    ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=POLICY))
    ram.create_policy_version(
        rm.CreatePolicyVersionRequest(policy_name=name, policy_document=POLICY)
    )
    delete = lambda: ram.delete_policy(rm.DeletePolicyRequest(policy_name=name))  # noqa: E731
    err("DeleteConflict.Policy.Version", 409, delete)
    for kind, who in (("User", user), ("Group", group), ("Role", role)):
        attach = getattr(ram, f"attach_policy_to_{kind.lower()}")
        detach = getattr(ram, f"detach_policy_from_{kind.lower()}")
        fields = {"policy_type": "Custom", "policy_name": name, f"{kind.lower()}_name": who}
        attach(getattr(rm, f"AttachPolicyTo{kind}Request")(**fields))
        err(f"DeleteConflict.Policy.{kind}", 409, delete)
        detach(getattr(rm, f"DetachPolicyFrom{kind}Request")(**fields))
    ram.delete_policy(rm.DeletePolicyRequest(policy_name=name, cascading_delete=True))
    err("EntityNotExist.Policy", 404, delete)


def test_policy_errors(ram: RamClient, policy: str) -> None:
    def create(**kw: Any) -> Callable[[], Any]:
        fields = {"policy_name": unique("p"), "policy_document": POLICY, **kw}
        return lambda: ram.create_policy(rm.CreatePolicyRequest(**fields))

    err("InvalidParameter.PolicyName.InvalidChars", 400, create(policy_name="a.b"))
    err("InvalidParameter.PolicyName.Length", 400, create(policy_name="p" * 129))
    err("InvalidParameter.PolicyDocument.Length", 400, create(policy_document=" " * 6145))
    err("InvalidParameter.Description.Length", 400, create(description="d" * 1025))
    err("MissingParameter", 400, create(policy_document=None))
    err("MalformedPolicyDocument", 400, create(policy_document="[]"))
    err("EntityAlreadyExists.Policy", 409, create(policy_name=policy))
    err("EntityAlreadyExists.Policy", 409, create(policy_name="AliyunKMSFullAccess"))
    err("InvalidParameter", 400, create(tag=[rm.CreatePolicyRequestTag(key="acs:x", value="v")]))

    missing = unique("none")
    get = ram.get_policy
    fails(
        "InvalidParameter.PolicyType",
        400,
        get,
        rm.GetPolicyRequest(policy_name=policy, policy_type="custom"),
    )
    fails("MissingParameter", 400, get, rm.GetPolicyRequest(policy_name=policy))
    fails(
        "EntityNotExist.Policy",
        404,
        get,
        rm.GetPolicyRequest(policy_name=missing, policy_type="Custom"),
    )
    fails(
        "EntityNotExist.Policy",
        404,
        get,
        rm.GetPolicyRequest(policy_name=policy, policy_type="System"),
    )
    system = rm.GetPolicyRequest(policy_name="AliyunKMSFullAccess", policy_type="Custom")
    fails("EntityNotExist.Policy", 404, get, system)
    other = rm.ListPoliciesRequest(policy_type="Other")
    fails("InvalidParameter.PolicyType", 400, ram.list_policies, other)
    fails("InvalidParameter", 400, ram.list_policies, rm.ListPoliciesRequest(marker="!"))
    delete = ram.delete_policy
    fails("EntityNotExist.Policy", 404, delete, rm.DeletePolicyRequest(policy_name=missing))
    builtin = rm.DeletePolicyRequest(policy_name="AliyunKMSFullAccess")
    fails("EntityNotExist.Policy", 404, delete, builtin)


def test_version_errors(ram: RamClient, policy: str) -> None:
    missing = unique("none")

    def new(name: str = policy, document: str = POLICY, **kw: Any) -> rm.CreatePolicyVersionRequest:
        return rm.CreatePolicyVersionRequest(policy_name=name, policy_document=document, **kw)

    create = ram.create_policy_version
    fails("EntityNotExist.Policy", 404, create, new(missing))
    fails("InvalidParameter.PolicyDocument.Length", 400, create, new(document=" " * 6145))
    fails("MalformedPolicyDocument", 400, create, new(document='{"Version":"1","Statement":[]}'))
    fails("InvalidParameter", 400, create, new(rotate_strategy="Sometimes"))
    for _ in range(4):
        create(new())
    fails("LimitExceeded.Policy.Version", 409, create, new())
    rotated = create(new(rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded"))
    assert rotated.body.policy_version.version_id == "v6"
    listing = rm.ListPolicyVersionsRequest(policy_name=policy, policy_type="Custom")
    versions = ram.list_policy_versions(listing).body.policy_versions.policy_version
    # v2, the oldest version that is not the default, made room.
    assert [v.version_id for v in versions] == ["v1", "v3", "v4", "v5", "v6"]

    def version(v: str, kind: str = "Custom", name: str = policy) -> rm.GetPolicyVersionRequest:
        return rm.GetPolicyVersionRequest(policy_name=name, policy_type=kind, version_id=v)

    get = ram.get_policy_version
    fails("InvalidParameter.VersionId.Format", 400, get, version("2"))
    fails("InvalidParameter.VersionId.Format", 400, get, version("v0"))
    fails("EntityNotExist.Policy.Version", 404, get, version("v2"))
    fails("EntityNotExist.Policy", 404, get, version("v1", name=missing))
    fails("InvalidParameter.PolicyType", 400, get, version("v1", kind="Managed"))
    versions_of = ram.list_policy_versions
    unknown = rm.ListPolicyVersionsRequest(policy_name=missing, policy_type="Custom")
    fails("EntityNotExist.Policy", 404, versions_of, unknown)
    lower = rm.ListPolicyVersionsRequest(policy_name=policy, policy_type="system")
    fails("InvalidParameter.PolicyType", 400, versions_of, lower)

    drop, default = ram.delete_policy_version, ram.set_default_policy_version
    for code, status, v, name in (
        ("DeleteConflict.Policy.Version.Default", 409, "v1", policy),
        ("EntityNotExist.Policy.Version", 404, "v2", policy),
        ("InvalidParameter.VersionId.Format", 400, "latest", policy),
        ("EntityNotExist.Policy", 404, "v3", missing),
    ):
        fails(code, status, drop, rm.DeletePolicyVersionRequest(policy_name=name, version_id=v))
    for code, status, v, name in (
        ("EntityNotExist.Policy.Version", 404, "v2", policy),
        ("InvalidParameter.VersionId.Format", 400, "V3", policy),
        ("EntityNotExist.Policy", 404, "v3", missing),
    ):
        request = rm.SetDefaultPolicyVersionRequest(policy_name=name, version_id=v)
        fails(code, status, default, request)
    default(rm.SetDefaultPolicyVersionRequest(policy_name=policy, version_id="v6"))
    got = ram.get_policy(rm.GetPolicyRequest(policy_name=policy, policy_type="Custom"))
    assert got.body.policy.default_version == "v6"


# -- attachments --------------------------------------------------------------------------------

KINDS = ("User", "Group", "Role")


def _attach(ram: RamClient, kind: str, **fields: Any) -> Any:
    request = getattr(rm, f"AttachPolicyTo{kind}Request")(**fields)
    return getattr(ram, f"attach_policy_to_{kind.lower()}")(request)


def _detach(ram: RamClient, kind: str, **fields: Any) -> Any:
    request = getattr(rm, f"DetachPolicyFrom{kind}Request")(**fields)
    return getattr(ram, f"detach_policy_from_{kind.lower()}")(request)


def _list_for(ram: RamClient, kind: str, name: str) -> list[Any]:
    request = getattr(rm, f"ListPoliciesFor{kind}Request")(**{f"{kind.lower()}_name": name})
    body = getattr(ram, f"list_policies_for_{kind.lower()}")(request).body
    return list(body.policies.policy)


@pytest.mark.parametrize("kind", KINDS)
def test_attach_list_and_detach(
    ram: RamClient, kind: str, user: str, group: str, role: str, policy: str
) -> None:
    who = {"User": user, "Group": group, "Role": role}[kind]
    field = f"{kind.lower()}_name"
    assert _list_for(ram, kind, who) == []
    _attach(ram, kind, policy_type="Custom", policy_name=policy, **{field: who})
    _attach(ram, kind, policy_type="System", policy_name="AliyunKMSReadOnlyAccess", **{field: who})
    listed = _list_for(ram, kind, who)
    assert [(p.policy_type, p.policy_name) for p in listed] == [
        ("Custom", policy), ("System", "AliyunKMSReadOnlyAccess")
    ]  # fmt: skip
    assert all(DATE.fullmatch(p.attach_date) and p.default_version == "v1" for p in listed)
    assert listed[1].description.startswith("Read-only")

    got = ram.get_policy(rm.GetPolicyRequest(policy_name=policy, policy_type="Custom")).body
    assert got.policy.attachment_count == 1
    entities = ram.list_entities_for_policy(
        rm.ListEntitiesForPolicyRequest(policy_name=policy, policy_type="Custom")
    ).body
    users, groups, roles = entities.users.user, entities.groups.group, entities.roles.role
    assert [e.user_name for e in users] == ([who] if kind == "User" else [])
    assert [e.group_name for e in groups] == ([who] if kind == "Group" else [])
    assert [e.role_name for e in roles] == ([who] if kind == "Role" else [])
    for entity in (*users, *groups, *roles):
        assert DATE.fullmatch(entity.attach_date)
    if kind == "Role":
        assert roles[0].arn.endswith(f":role/{who}") and roles[0].role_id.isdigit()
    if kind == "User":
        assert users[0].user_id.isdigit() and users[0].display_name == who

    _detach(ram, kind, policy_type="Custom", policy_name=policy, **{field: who})
    _detach(ram, kind, policy_type="System", policy_name="AliyunKMSReadOnlyAccess", **{field: who})
    assert _list_for(ram, kind, who) == []


def test_a_role_is_attached_by_its_name_in_any_case(ram: RamClient, role: str, policy: str) -> None:
    _attach(ram, "Role", policy_type="Custom", policy_name=policy, role_name=role.upper())
    assert [p.policy_name for p in _list_for(ram, "Role", role.lower())] == [policy]
    _detach(ram, "Role", policy_type="Custom", policy_name=policy, role_name=role)


@pytest.mark.parametrize("kind", KINDS)
def test_attachment_errors(
    ram: RamClient, kind: str, user: str, group: str, role: str, policy: str
) -> None:
    who = {"User": user, "Group": group, "Role": role}[kind]
    field = f"{kind.lower()}_name"
    missing = unique("none")

    def attach(**kw: Any) -> Callable[[], Any]:
        fields = {"policy_type": "Custom", "policy_name": policy, field: who, **kw}
        return lambda: _attach(ram, kind, **fields)

    def detach(**kw: Any) -> Callable[[], Any]:
        fields = {"policy_type": "Custom", "policy_name": policy, field: who, **kw}
        return lambda: _detach(ram, kind, **fields)

    for make in (attach, detach):
        err(f"EntityNotExist.{kind}", 404, make(**{field: missing}))
        err("EntityNotExist.Policy", 404, make(policy_name=missing))
        err("EntityNotExist.Policy", 404, make(policy_type="System"))
        err("InvalidParameter.PolicyType", 400, make(policy_type="custom"))
        err("MissingParameter", 400, make(policy_type=None))
        err(f"InvalidParameter.{kind}Name.InvalidChars", 400, make(**{field: "a b"}))
        err(f"InvalidParameter.{kind}Name.Length", 400, make(**{field: "a" * 65}))
        err("InvalidParameter.PolicyName.InvalidChars", 400, make(policy_name="a_b"))
    err(f"EntityNotExist.{kind}.Policy", 404, detach())
    attach(resource_group_id="rg-ignored")()
    err(f"EntityAlreadyExists.{kind}.Policy", 409, attach())
    detach()()
    err(f"EntityNotExist.{kind}", 404, lambda: _list_for(ram, kind, missing))


def test_too_many_policies_on_one_principal(ram: RamClient, user: str) -> None:
    names = []
    for _ in range(25):
        name = unique("lim")
        ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=POLICY))
        _attach(ram, "User", policy_type="Custom", policy_name=name, user_name=user)
        names.append(name)
    err(
        "LimitExceeded.User.Policy",
        409,
        lambda: _attach(
            ram, "User", policy_type="System", policy_name="AliyunKMSFullAccess", user_name=user
        ),
    )
    for name in names:
        _detach(ram, "User", policy_type="Custom", policy_name=name, user_name=user)
        ram.delete_policy(rm.DeletePolicyRequest(policy_name=name))


def test_list_entities_errors(ram: RamClient) -> None:
    err(
        "EntityNotExist.Policy",
        404,
        lambda: ram.list_entities_for_policy(
            rm.ListEntitiesForPolicyRequest(policy_name=unique("none"), policy_type="Custom")
        ),
    )
    err(
        "InvalidParameter.PolicyType",
        400,
        lambda: ram.list_entities_for_policy(
            rm.ListEntitiesForPolicyRequest(policy_name="AliyunKMSFullAccess", policy_type="Sys")
        ),
    )
    body = ram.list_entities_for_policy(
        rm.ListEntitiesForPolicyRequest(policy_name="AliyunKMSFullAccess", policy_type="System")
    ).body
    assert body.users is not None and body.groups is not None and body.roles is not None


# -- authorization of the RAM actions themselves ------------------------------------------------


def test_policy_administration_is_authorized_per_policy(
    server: ServerProcess, ram: RamClient, user: str, policy: str
) -> None:
    admin = new_user(server, ram, "padmin")
    refused = lambda call: err("Forbidden.NoPermission", 403, call)  # noqa: E731
    read = lambda c: c.get_policy(  # noqa: E731
        rm.GetPolicyRequest(policy_name=policy, policy_type="Custom")
    )
    refused(lambda: read(admin.ram))
    account = admin.arn.split(":")[3]
    # Attaching needs the action on the policy and on the user it goes to.
    scoped = doc(allow(["ram:GetPolicy", "ram:AttachPolicyToUser"],
                       [f"acs:ram::{account}:policy/{policy}",
                        f"acs:ram::{account}:user/{user}"]))  # fmt: skip
    name = unique("delegate")
    ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=scoped))
    _attach(ram, "User", policy_type="Custom", policy_name=name, user_name=admin.name)
    read(admin.ram)
    _attach(admin.ram, "User", policy_type="Custom", policy_name=policy, user_name=user)
    refused(
        lambda: _attach(
            admin.ram,
            "User",
            policy_type="System",
            policy_name="AliyunKMSFullAccess",
            user_name=user,
        )
    )
    refused(lambda: admin.ram.list_policies(rm.ListPoliciesRequest()))


# -- the catalogue and the raw wire -------------------------------------------------------------

MINE = {
    "CreateRole", "GetRole", "ListRoles", "UpdateRole", "DeleteRole", "CreatePolicy",
    "GetPolicy", "ListPolicies", "DeletePolicy", "CreatePolicyVersion", "GetPolicyVersion",
    "ListPolicyVersions", "DeletePolicyVersion", "SetDefaultPolicyVersion", "AttachPolicyToUser",
    "AttachPolicyToGroup", "AttachPolicyToRole", "DetachPolicyFromUser", "DetachPolicyFromGroup",
    "DetachPolicyFromRole", "ListPoliciesForUser", "ListPoliciesForGroup", "ListPoliciesForRole",
    "ListEntitiesForPolicy",
}  # fmt: skip


def test_every_action_declares_exactly_the_sdk_parameters() -> None:
    notes = {a["Action"]: a for a in json.loads(NOTES.read_text("utf-8"))["actions"]}
    served = {a.name: a for a in catalogue().all() if a.version == RAM_VERSION}
    assert set(served) >= MINE
    for name in MINE:
        action, entry = served[name], notes[name]
        assert action.ram_action == f"ram:{name}"
        assert {p.name for p in action.params} == {p["name"] for p in entry["request"]}, name
        required = {p["name"] for p in entry["request"] if p["required"]}
        assert {p.name for p in action.params if p.required} == required, name


def _raw(server: ServerProcess, action: str, **params: str) -> dict[str, Any]:
    """The old SDK core (RPC V1 HMAC-SHA1) and the JSON exactly as the server wrote it."""
    client = AcsClient(server.access_key_id, server.access_key_secret, "cn-hangzhou")
    request = CommonRequest(domain=server.endpoint, version=RAM_VERSION, action_name=action)
    request.set_protocol_type("http")
    request.set_method("POST")
    for name, value in params.items():
        request.add_query_param(name, value)
    result: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return result


def test_raw_json_types_over_v1_signatures(server: ServerProcess, ram: RamClient) -> None:
    name = unique("raw")
    # The old SDK sends Tag through json.dumps: default separators, ASCII escapes.
    tag = json.dumps([{"Key": "k", "Value": "ü"}])
    created = _raw(
        server, "CreateRole", RoleName=name, AssumeRolePolicyDocument=TRUST, Tag=tag,
        MaxSessionDuration="3600", AllowConsoleLogin="True",
    )  # fmt: skip
    role = created["Role"]
    assert role["MaxSessionDuration"] == 3600 and role["AllowConsoleLogin"] is False
    assert isinstance(role["RoleId"], str) and "UpdateDate" not in role
    listed = _raw(server, "ListRoles", MaxItems="1000", Tag=tag)
    assert listed["IsTruncated"] is False and "Marker" not in listed
    assert listed["Roles"]["Role"][0]["Tags"] == {"Tag": [{"TagKey": "k", "TagValue": "ü"}]}
    policy = unique("rawp")
    _raw(server, "CreatePolicy", PolicyName=policy, PolicyDocument=POLICY)
    got = _raw(server, "GetPolicy", PolicyName=policy, PolicyType="Custom")
    assert got["Policy"]["AttachmentCount"] == 0
    assert got["DefaultPolicyVersion"]["IsDefaultVersion"] is True
    _raw(server, "AttachPolicyToRole", PolicyName=policy, PolicyType="Custom", RoleName=name)
    entities = _raw(server, "ListEntitiesForPolicy", PolicyName=policy, PolicyType="Custom")
    assert entities["Users"] == {"User": []} and entities["Groups"] == {"Group": []}
    assert [r["RoleName"] for r in entities["Roles"]["Role"]] == [name]
    for_role = _raw(server, "ListPoliciesForRole", RoleName=name)
    assert [p["PolicyName"] for p in for_role["Policies"]["Policy"]] == [policy]
    _raw(server, "DetachPolicyFromRole", PolicyName=policy, PolicyType="Custom", RoleName=name)
    versions = _raw(server, "ListPolicyVersions", PolicyName=policy, PolicyType="Custom")
    assert versions["PolicyVersions"]["PolicyVersion"][0]["IsDefaultVersion"] is True
    _raw(server, "DeletePolicy", PolicyName=policy)
    _raw(server, "DeleteRole", RoleName=name)
