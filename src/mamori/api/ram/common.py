"""What the RAM identity actions share: name parameters, Marker/MaxItems paging, resource ARNs,
JSON shapes, and the identity services.

Validation errors: Alibaba answers ``InvalidParameter.<Param>.InvalidChars`` / ``.Length`` /
``.Format``. A name parameter answers with that sub-code when the error table has its row (it
has them for UserName and GroupName, shared with the policy actions); every other case uses the
generic ``InvalidParameter`` row (400), naming the parameter and the reason in the message, so
the table does not grow a row per parameter and problem (NewUserName, DisplayName, Email, …).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from mamori.api.catalogue import (
    RAM_VERSION,
    Action,
    Args,
    Call,
    Handler,
    ResourceOf,
    ResourcesOf,
    Result,
    Services,
)
from mamori.api.errors import ERRORS, ApiError, invalid
from mamori.api.params import Int, Param, Str
from mamori.core.model import iso
from mamori.core.refs import Scope
from mamori.iam.directory import User
from mamori.iam.groups import Group
from mamori.iam.names import IDENTITY_NAME, NAME_MAX
from mamori.iam.principal import ADMIN

_NAME = re.compile(IDENTITY_NAME)


def identities(call: Call) -> Services:
    """The services identity handlers reach."""
    return call.services


def ram_action(
    name: str,
    params: tuple[Param, ...],
    handler: Handler,
    resource: ResourceOf,
    resources: ResourcesOf | None = None,
    read_only: bool = False,
) -> Action:
    """A RAM (2015-05-01) action, authorized as ``ram:{name}`` on ``resource``, or on each of
    ``resources`` when it touches several."""
    return Action(
        name,
        params,
        handler,
        resource,
        version=RAM_VERSION,
        service="ram",
        resources=resources,
        read_only=read_only,
    )


def _name_error(param: str, problem: str, detail: str) -> ApiError:
    """``InvalidParameter.<param>.<problem>`` if the table has it, else the generic row."""
    code = f"InvalidParameter.{param}.{problem}"
    return ApiError(code) if code in ERRORS else invalid(param, detail)


@dataclass(frozen=True, slots=True)
class EntityName(Param):
    """A user or group name; with ``user``, ``root`` (the administrator's) is refused."""

    max_len: int = 4096  # the 64-character limit is checked below, with its own code
    user: bool = False

    def convert(self, text: str) -> Any:
        """Check length, characters and the reserved name."""
        if len(text) > NAME_MAX:
            raise _name_error(self.name, "Length", f"It is longer than {NAME_MAX} characters.")
        if not _NAME.fullmatch(text):
            raise _name_error(
                self.name, "InvalidChars", "It may contain only letters, digits, '.', '_' and '-'."
            )
        if self.user and text.lower() == ADMIN:
            raise invalid(self.name, f"The name {text!r} is reserved.")
        return text


def user_name(param: str, *, required: bool = False) -> EntityName:
    """UserName / NewUserName."""
    return EntityName(param, required=required, user=True)


def group_name(param: str, *, required: bool = False) -> EntityName:
    """GroupName / NewGroupName."""
    return EntityName(param, required=required)


MARKER = Str("Marker", max_len=512)
MAX_ITEMS = Int("MaxItems", low=1, high=1000)
DEFAULT_MAX_ITEMS = 100
COMMENTS_MAX = 128


def display_name(param: str) -> Str:
    """DisplayName / NewDisplayName: 1–128 characters, no control characters."""
    return Str(param, max_len=128, pattern=r"[^\x00-\x1f\x7f]+")


def email(param: str) -> Str:
    """Email / NewEmail: ``local@domain.tld``."""
    return Str(param, max_len=128, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+")


def mobile_phone(param: str) -> Str:
    """MobilePhone / NewMobilePhone: ``<country code>-<number>``, e.g. ``86-18600008888``."""
    return Str(param, max_len=32, pattern=r"[0-9]{1,6}-[0-9]{1,20}")


def comments(param: str) -> Str:
    """Comments / NewComments: up to 128 characters."""
    return Str(param, max_len=COMMENTS_MAX)


# -- paging --------------------------------------------------------------------------------------


def encode_marker(last_name: str) -> str:
    """The opaque Marker that resumes after ``last_name``."""
    return base64.urlsafe_b64encode(last_name.encode()).decode("ascii")


def page_request(args: Args, names: re.Pattern[str] | None = _NAME) -> tuple[str, int]:
    """(name to resume after, page size) from Marker and MaxItems; ``names`` is the shape the
    resumed-after name must have (None: any)."""
    text: str | None = args.get("Marker")
    after = ""
    if text is not None:
        try:
            raw = text.encode("ascii")
            after = base64.b64decode(raw, altchars=b"-_", validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise invalid("Marker", "It is not a marker this server returned.") from None
        if names is not None and not names.fullmatch(after):
            raise invalid("Marker", "It is not a marker this server returned.")
    return after, args.get("MaxItems") or DEFAULT_MAX_ITEMS


def page_fields(more: bool, last_name: str | None) -> Result:
    """``IsTruncated`` always; ``Marker`` only when truncated."""
    if more and last_name is not None:
        return {"IsTruncated": True, "Marker": encode_marker(last_name)}
    return {"IsTruncated": False}


# -- resources -----------------------------------------------------------------------------------


def ram_account_resource(_services: Services, scope: Scope, _args: Args) -> str:
    """``acs:ram::{account}:*`` for actions on the account's RAM as a whole (listings)."""
    return f"acs:ram::{scope.account_id}:*"


def user_arn(scope: Scope, name: str) -> str:
    """``acs:ram::{account}:user/{name}``."""
    return f"acs:ram::{scope.account_id}:user/{name}"


def user_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The user UserName names, else ``user/*`` (the hook cannot see the caller)."""
    return user_arn(scope, args.get("UserName") or "*")


def group_arn(scope: Scope, name: str) -> str:
    """``acs:ram::{account}:group/{name}``."""
    return f"acs:ram::{scope.account_id}:group/{name}"


def group_resource(_services: Services, scope: Scope, args: Args) -> str:
    """``acs:ram::{account}:group/{name}`` of the GroupName parameter."""
    return group_arn(scope, args.get("GroupName") or "")


# -- JSON shapes ---------------------------------------------------------------------------------


def user_json(user: User, *, updated: bool = True) -> dict[str, Any]:
    """A ``User`` object; CreateUser's has no UpdateDate."""
    body: dict[str, Any] = {
        "UserId": user.user_id,
        "UserName": user.name,
        "DisplayName": user.display_name,
        "MobilePhone": user.mobile_phone,
        "Email": user.email,
        "Comments": user.comments,
        "CreateDate": iso(user.created_at),
    }
    if updated:
        body["UpdateDate"] = iso(user.updated_at)
    return body


def group_json(group: Group, *, updated: bool = True) -> dict[str, Any]:
    """A ``Group`` object; CreateGroup's has no UpdateDate."""
    body: dict[str, Any] = {
        "GroupId": group.group_id,
        "GroupName": group.name,
        "Comments": group.comments,
        "CreateDate": iso(group.created_at),
    }
    if updated:
        body["UpdateDate"] = iso(group.updated_at)
    return body
