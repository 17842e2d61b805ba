"""Who may assume a role: the role's trust policy, evaluated against the caller.

Unlike a key policy, a trust policy's ``acs:ram::<account>:root`` names the whole account, as
Alibaba documents for the "Alibaba Cloud account" trusted entity: every identity of that account
may assume the role, provided its own RAM policies allow ``sts:AssumeRole`` (checked apart, like
any action). So the policy is evaluated twice, for the caller's own ARN and for its account's
root; an explicit Deny in either wins, else an Allow in either suffices.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from mamori.iam.authorize import Origin
from mamori.iam.policy import (
    Allow,
    Decision,
    Deny,
    NamedPolicy,
    RequestContext,
    evaluate,
    parse_policy_cached,
)
from mamori.iam.principal import Principal
from mamori.iam.roles import Role

ASSUME_ROLE: Final = "sts:AssumeRole"


def may_assume(
    role: Role,
    caller: Principal,
    origin: Origin,
    now: datetime,
    *,
    external_id: str | None = None,
    source_identity: str | None = None,
) -> Decision:
    """Whether ``role``'s trust policy lets ``caller`` assume it (``now`` timezone-aware).
    ``external_id`` and ``source_identity`` are what the caller sent with AssumeRole; a trust
    policy tests them as ``sts:ExternalId`` and ``sts:SourceIdentity`` (the guard against a
    confused deputy), so they are never dropped."""
    trust = [
        NamedPolicy(
            "trust policy", parse_policy_cached(role.assume_role_policy, resource_policy=True)
        )
    ]
    ctx = RequestContext(
        source_ip=origin.source_ip,
        current_time=now,
        secure_transport=origin.secure,
        principal_arn=caller.arn,
        external_id=external_id,
        source_identity=source_identity,
    )
    own = evaluate(trust, ASSUME_ROLE, role.arn, ctx)
    account_root = f"acs:ram::{caller.account_id}:root"
    whole = evaluate(trust, ASSUME_ROLE, role.arn, replace(ctx, principal_arn=account_root))
    for decision in (own, whole):
        if isinstance(decision, Deny) and decision.explicit:
            return decision
    for decision in (own, whole):
        if isinstance(decision, Allow):
            return decision
    return Deny(f"the trust policy of role {role.name} does not allow {caller.arn}")
