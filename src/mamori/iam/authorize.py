"""The authorization decision for one request, returned as a value that carries its reason.

The administrator may do everything. A RAM user gets what the policies attached to it and to
its groups allow; an assumed role what the role's policies allow, narrowed by the session
policy. An explicit Deny always wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mamori.iam.policies import Policies
from mamori.iam.policy import (
    Allow,
    Decision,
    Deny,
    NamedPolicy,
    RequestContext,
    evaluate,
    evaluate_with_boundary,
    parse_policy_cached,
)
from mamori.iam.principal import Principal

__all__ = ["Allow", "Authorizer", "Decision", "Deny", "Origin"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the transport saw it."""

    source_ip: str = ""
    secure: bool = False


class Authorizer:
    """Evaluates the caller's policies (compiled and cached) for one action on one resource."""

    def __init__(self, policies: Policies, clock: Callable[[], float]) -> None:
        self._policies = policies
        self._clock = clock

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
            resource_tags=resource_tags or {},
            encryption_context=encryption_context or {},
        )
        kind, holder = ("Role", principal.role) if principal.role else ("User", principal.name)
        named = [
            NamedPolicy(name, parse_policy_cached(document))
            for name, document in self._policies.effective(principal.account_id, kind, holder)
        ]
        if principal.session_policy is None:
            return evaluate(named, action, resource, ctx)
        session = parse_policy_cached(principal.session_policy)
        return evaluate_with_boundary(named, session, action, resource, ctx)
