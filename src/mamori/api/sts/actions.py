"""STS: AssumeRole and GetCallerIdentity (API 2015-04-01)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from mamori.api.catalogue import STS_VERSION, Action, Args, Call, Result, Services
from mamori.api.errors import ApiError, invalid
from mamori.api.params import Int, Str
from mamori.core.model import iso
from mamori.core.refs import Scope
from mamori.iam.authorize import Deny
from mamori.iam.policy import MalformedPolicy, parse_policy
from mamori.iam.roles import SESSION_MAX, role_arn
from mamori.iam.trust import ASSUME_ROLE, may_assume

_ROLE_ARN: Final = re.compile(r"acs:ram::([0-9]{1,32}):role/([A-Za-z0-9._@-]{1,64})")
_SESSION_MIN: Final = 900
_DEFAULT_DURATION: Final = 3600


def _services(call: Call) -> Services:
    return call.services


def _role_ref(text: str) -> tuple[str, str]:
    match = _ROLE_ARN.fullmatch(text)
    if match is None:
        raise invalid("RoleArn", "It must be acs:ram::<AccountId>:role/<RoleName>.")
    return match.group(1), match.group(2)


def role_resource(_services: Services, _scope: Scope, args: Args) -> str:
    """The role ARN AssumeRole acts on, as RoleArn spells it: policies match a role's name in
    any case."""
    account, name = _role_ref(args["RoleArn"])
    return role_arn(account, name)


def caller_resource(_services: Services, scope: Scope, _args: Args) -> str:
    """GetCallerIdentity acts on no resource of its own: the account's STS namespace."""
    return f"acs:sts::{scope.account_id}:*"


def _session_policy(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        parse_policy(text)
    except MalformedPolicy as exc:
        raise invalid("Policy", f"It has not passed the grammar check: {exc.reason}") from None
    return text


def assume_role(call: Call, args: Args) -> Result:
    """AssumeRole: temporary credentials for a role whose trust policy admits the caller."""
    services = _services(call)
    account, name = _role_ref(args["RoleArn"])
    session_name: str = args["RoleSessionName"]
    policy = _session_policy(args["Policy"])
    role = services.roles.get(account, name)
    now = services.tokens.now()
    decision = may_assume(
        role,
        call.principal,
        call.origin,
        datetime.fromtimestamp(now, UTC),
        external_id=args["ExternalId"],
        source_identity=args["SourceIdentity"],
    )
    if isinstance(decision, Deny):
        raise ApiError("Forbidden.NoPermission", action=ASSUME_ROLE, reason=decision.reason)
    duration: int = args["DurationSeconds"] or _DEFAULT_DURATION
    longest = min(SESSION_MAX, role.max_session_duration)
    if duration > longest:
        raise invalid("DurationSeconds", f"It must be between {_SESSION_MIN} and {longest}.")
    credentials = services.tokens.issue(
        account_id=role.account_id,
        role_name=role.name,
        role_id=role.role_id,
        session_name=session_name,
        session_policy=policy,
        duration=duration,
    )
    session = credentials.session
    return {
        "AssumedRoleUser": {
            "Arn": f"{role.arn}/{session_name}",
            "AssumedRoleId": f"{role.role_id}:{session_name}",
        },
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": credentials.access_key_secret,
            "SecurityToken": credentials.security_token,
            # Exactly %Y-%m-%dT%H:%M:%SZ: the credential chain's strptime takes nothing else.
            "Expiration": iso(session.expires_at),
        },
    }


def get_caller_identity(call: Call, _args: Args) -> Result:
    """GetCallerIdentity: who the request's credentials belong to."""
    services = _services(call)
    principal = call.principal
    account = principal.account_id
    identity = {"AccountId": account, "Arn": principal.arn, "UserId": "", "RoleId": ""}
    if principal.role is not None:
        role_id = services.roles.get(account, principal.role).role_id
        principal_id = f"{role_id}:{principal.name}"
        return {
            **identity,
            "IdentityType": "AssumedRoleUser",
            "PrincipalId": principal_id,
            "RoleId": role_id,
        }
    if principal.is_admin:
        return {**identity, "IdentityType": "Account", "PrincipalId": account, "UserId": account}
    user_id = services.directory.get_user(account, principal.name).user_id
    return {**identity, "IdentityType": "RAMUser", "PrincipalId": user_id, "UserId": user_id}


ACTIONS: tuple[Action, ...] = (
    Action(
        "AssumeRole",
        (
            Str("RoleArn", required=True, max_len=256),
            Str("RoleSessionName", required=True, max_len=64, pattern=r"[A-Za-z0-9_.@-]{2,64}"),
            Int("DurationSeconds", low=_SESSION_MIN, high=SESSION_MAX),
            Str("Policy", max_len=2048),
            Str("ExternalId", max_len=1224, pattern=r"[A-Za-z0-9_+=,.@:/-]{2,1224}"),
            Str("SourceIdentity", max_len=128),
        ),
        assume_role,
        resource=role_resource,
        version=STS_VERSION,
        service="sts",
        read_only=True,
    ),
    Action(
        "GetCallerIdentity",
        (),
        get_caller_identity,
        resource=caller_resource,
        version=STS_VERSION,
        service="sts",
        authorize=False,
        read_only=True,
    ),
)
