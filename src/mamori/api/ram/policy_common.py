"""What the RAM role, policy and attachment actions share: parameter kinds that answer with
RAM's documented sub-codes (``InvalidParameter.RoleName.InvalidChars``, ``.Length``,
``InvalidParameter.PolicyType``, ``InvalidParameter.VersionId.Format``), resources, paging and
the JSON shapes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mamori.api.catalogue import Args, Call, Result, Services
from mamori.api.errors import ApiError, invalid
from mamori.api.params import JsonParam, Param, Str
from mamori.api.ram.common import group_name, page_fields, page_request, user_name
from mamori.core.model import iso
from mamori.core.refs import Scope
from mamori.iam.policies import CUSTOM, SYSTEM, PolicyInfo, PolicyVersion
from mamori.iam.policy import MAX_LENGTH
from mamori.iam.roles import Role, role_arn

T = TypeVar("T")
_UNLIMITED = 1 << 20  # the kinds below check length themselves, to answer RAM's own code


def ram(call: Call) -> Services:
    """The services policy handlers reach."""
    return call.services


# -- parameter kinds -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RamName(Param):
    """A RAM entity name: ``InvalidParameter.<Name>.Length`` beyond ``limit`` characters,
    ``.InvalidChars`` outside ``chars``."""

    max_len: int = _UNLIMITED
    limit: int = 64
    chars: str = r"[A-Za-z0-9._-]+"

    def convert(self, text: str) -> Any:
        """Check length, then characters."""
        if len(text) > self.limit:
            raise ApiError(f"InvalidParameter.{self.name}.Length")
        if not re.fullmatch(self.chars, text):
            raise ApiError(f"InvalidParameter.{self.name}.InvalidChars")
        return text


@dataclass(frozen=True, slots=True)
class RamText(Param):
    """Free text (descriptions, policy documents): ``InvalidParameter.<Name>.Length``."""

    max_len: int = _UNLIMITED
    limit: int = 1024

    def convert(self, text: str) -> Any:
        """Check the length."""
        if len(text) > self.limit:
            raise ApiError(f"InvalidParameter.{self.name}.Length")
        return text


@dataclass(frozen=True, slots=True)
class PolicyType(Param):
    """``System`` or ``Custom`` (exact case), else ``InvalidParameter.PolicyType``."""

    def convert(self, text: str) -> Any:
        """Check the value."""
        if text not in (SYSTEM, CUSTOM):
            raise ApiError("InvalidParameter.PolicyType")
        return text


@dataclass(frozen=True, slots=True)
class VersionId(Param):
    """``v1``, ``v2``, …, else ``InvalidParameter.VersionId.Format``."""

    def convert(self, text: str) -> Any:
        """Check the format."""
        if not re.fullmatch(r"v[1-9][0-9]{0,8}", text):
            raise ApiError("InvalidParameter.VersionId.Format")
        return text


@dataclass(frozen=True, slots=True)
class RamTags(JsonParam):
    """RAM's ``Tag``: one parameter holding ``[{"Key": k, "Value": v}, …]`` → [(k, v), …]."""

    def shape(self, value: Any) -> Any:
        """Check and convert the JSON list."""
        if not isinstance(value, list):
            raise invalid(self.name, "It must be a JSON array of tags.")
        pairs: list[tuple[str, str]] = []
        for item in value:
            key = item.get("Key") if isinstance(item, dict) else None
            val = item.get("Value", "") if isinstance(item, dict) else None
            if not isinstance(key, str) or not isinstance(val, str):
                raise invalid(self.name, 'Each tag must be {"Key": "…", "Value": "…"}.')
            pairs.append((key, val))
        return pairs


def role_name(name: str = "RoleName") -> RamName:
    """RoleName: 1–64 letters, digits, ``.`` and ``-``."""
    return RamName(name, required=True, chars=r"[A-Za-z0-9.-]+")


def policy_name() -> RamName:
    """PolicyName: 1–128 letters, digits and ``-``."""
    return RamName("PolicyName", required=True, limit=128, chars=r"[A-Za-z0-9-]+")


def document(name: str, *, required: bool) -> RamText:
    """A policy document parameter, at most ``MAX_LENGTH`` characters."""
    return RamText(name, required=required, limit=MAX_LENGTH)


# User and group names follow the identity actions' rules (and sub-codes) exactly.
USER_NAME = user_name("UserName", required=True)
GROUP_NAME = group_name("GroupName", required=True)
POLICY_TYPE = PolicyType("PolicyType", required=True)
TAG = RamTags("Tag", max_len=8192)
RESOURCE_GROUP = Str("ResourceGroupId", max_len=128)  # accepted and ignored


# -- resources -----------------------------------------------------------------------------------


def role_resource(_services: Services, scope: Scope, args: Args) -> str:
    """``acs:ram::{account}:role/{name}`` as RoleName spells it: policies match a role's name in
    any case."""
    return role_arn(scope.account_id, args.get("RoleName") or "")


def policy_resource(_services: Services, scope: Scope, args: Args) -> str:
    """``acs:ram::{account}:policy/{name}`` of the PolicyName parameter."""
    return f"acs:ram::{scope.account_id}:policy/{args.get('PolicyName') or ''}"


# -- paging --------------------------------------------------------------------------------------


def page(items: Sequence[T], key: Callable[[T], str], args: Args) -> tuple[Sequence[T], Result]:
    """The page after ``Marker`` of items sorted by ``key``, with IsTruncated (and Marker)."""
    after, size = page_request(args, names=None)
    rest = [item for item in items if key(item) > after]
    chosen = rest[:size]
    return chosen, page_fields(len(rest) > size, key(chosen[-1]) if chosen else None)


def has_tags(tags: dict[str, str], wanted: Sequence[tuple[str, str]]) -> bool:
    """Whether every wanted tag is present (with that value, when one is given)."""
    return all(k in tags and (not v or tags[k] == v) for k, v in wanted)


def tags_json(tags: dict[str, str]) -> dict[str, Any]:
    """``{"Tag": [{"TagKey", "TagValue"}, …]}``."""
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]}


# -- JSON shapes ---------------------------------------------------------------------------------


def role_json(role: Role, *, trust: bool = True, updated: bool = True) -> dict[str, Any]:
    """A ``Role`` object; list items carry no trust policy, CreateRole's no UpdateDate."""
    body: dict[str, Any] = {
        "RoleId": role.role_id,
        "RoleName": role.name,
        "Arn": role.arn,
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
        # Mamori has no console, so no role may log on to one.
        "AllowConsoleLogin": False,
        "CreateDate": iso(role.created_at),
    }
    if trust:
        body["AssumeRolePolicyDocument"] = role.assume_role_policy
    if updated:
        body["UpdateDate"] = iso(role.updated_at)
    return body


def policy_json(info: PolicyInfo, *, full: bool = True) -> dict[str, Any]:
    """A ``Policy`` object; CreatePolicy's has no AttachmentCount or UpdateDate."""
    body: dict[str, Any] = {
        "PolicyName": info.name,
        "PolicyType": info.policy_type,
        "Description": info.description,
        "DefaultVersion": info.default_version,
        "CreateDate": iso(info.created_at),
    }
    if full:
        body["AttachmentCount"] = info.attachment_count
        body["UpdateDate"] = iso(info.updated_at)
    return body


def version_json(version: PolicyVersion) -> dict[str, Any]:
    """A ``PolicyVersion`` object."""
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "PolicyDocument": version.document,
        "CreateDate": iso(version.created_at),
    }
