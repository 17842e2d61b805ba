"""The authorization decision for one request, returned as a value that carries its reason.

The administrator may do everything. A RAM user gets what the policies attached to it and to
its groups allow; an assumed role what the role's policies allow. On a key or a secret, its
resource policy is combined with that (``evaluate_cross``): within the resource's account either
may grant, across accounts both must. A session policy then narrows the result. An explicit
Deny always wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from mamori.iam.key_policies import KeyPolicies
from mamori.iam.policies import Policies
from mamori.iam.policy import (
    Allow,
    Decision,
    Deny,
    NamedPolicy,
    RequestContext,
    evaluate,
    evaluate_cross,
    narrow,
    parse_policy_cached,
)
from mamori.iam.principal import Principal
from mamori.iam.secret_policies import SecretPolicies

__all__ = ["Allow", "Authorizer", "Decision", "Deny", "Origin"]

_KEY_ARN: Final = re.compile(r"acs:kms:[^:]*:([^:]*):key/([^/]+)")
_SECRET_ARN: Final = re.compile(r"acs:kms:[^:]*:([^:]*):secret/([^:]+)")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the transport saw it."""

    source_ip: str = ""
    secure: bool = False


class Authorizer:
    """Evaluates the caller's policies (compiled and cached) for one action on one resource."""

    def __init__(
        self,
        policies: Policies,
        clock: Callable[[], float],
        key_policies: KeyPolicies | None = None,
        secret_policies: SecretPolicies | None = None,
    ) -> None:
        self._policies = policies
        self._clock = clock
        self._key_policies = key_policies
        self._secret_policies = secret_policies

    def authorize(
        self,
        principal: Principal,
        action: str,
        resource: str,
        origin: Origin,
        *,
        encryption_context: Mapping[str, str] | None = None,
        resource_tags: Mapping[str, str] | None = None,
    ) -> Decision:
        """Decide whether ``principal`` may perform ``action`` on ``resource``."""
        if principal.is_admin:
            return Allow("account administrator")
        ctx = RequestContext(
            source_ip=origin.source_ip,
            current_time=datetime.fromtimestamp(self._clock(), UTC),
            secure_transport=origin.secure,
            principal_arn=principal.arn,
            # Not ``or {}``: truth-testing the lazy tag mapping would read the store.
            resource_tags=resource_tags if resource_tags is not None else {},
            encryption_context=encryption_context if encryption_context is not None else {},
        )
        kind, holder = ("Role", principal.role) if principal.role else ("User", principal.name)
        named = _compiled(self._policies.effective(principal.account_id, kind, holder))
        decision = self._with_key_policy(
            principal, evaluate(named, action, resource, ctx), action, resource, ctx
        )
        if principal.session_policy is None:
            return decision
        return narrow(
            decision, parse_policy_cached(principal.session_policy), action, resource, ctx
        )

    def _with_key_policy(
        self,
        principal: Principal,
        identity: Decision,
        action: str,
        resource: str,
        ctx: RequestContext,
    ) -> Decision:
        match = _KEY_ARN.fullmatch(resource)
        if match is None or self._key_policies is None:
            return self._with_secret_policy(principal, identity, action, resource, ctx)
        arn_account, key_id = match.groups()
        found = self._key_policies.lookup(key_id)
        # A key's policy speaks only for the key's own ARN: an ARN naming another account for
        # the same key id gets no grant from it.
        policy = found.policy if found is not None and found.account_id == arn_account else None
        return evaluate_cross(
            identity,
            policy,
            action,
            resource,
            ctx,
            same_account=arn_account == principal.account_id,
            name=f"the key policy of {key_id}",
        )

    def _with_secret_policy(
        self,
        principal: Principal,
        identity: Decision,
        action: str,
        resource: str,
        ctx: RequestContext,
    ) -> Decision:
        match = _SECRET_ARN.fullmatch(resource)
        if match is None or self._secret_policies is None:
            return identity
        arn_account, name = match.groups()
        # Secrets are looked up in the ARN's own account, so a policy speaks only for its ARN.
        found = self._secret_policies.lookup(arn_account, name)
        return evaluate_cross(
            identity,
            found.policy if found is not None else None,
            action,
            resource,
            ctx,
            same_account=arn_account == principal.account_id,
            name=f"the secret policy of {name}",
        )


@lru_cache(maxsize=4096)
def _compiled(effective: tuple[tuple[str, str], ...]) -> tuple[NamedPolicy, ...]:
    """The compiled form of a principal's policy set (the same set compiles once)."""
    return tuple(NamedPolicy(name, parse_policy_cached(document)) for name, document in effective)
