"""The authorization decision, returned as a value that carries its reason.

This issue's rule: the account's administrator may do everything, anyone else nothing. RAM users
and policies will plug in here, behind the same ``authorize`` signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.iam.principal import Principal


@dataclass(frozen=True, slots=True)
class Allow:
    """The request may proceed."""

    reason: str


@dataclass(frozen=True, slots=True)
class Deny:
    """The request is refused, and why."""

    reason: str


Decision = Allow | Deny


def authorize(principal: Principal, ram_action: str, resource_arn: str) -> Decision:
    """Decide whether ``principal`` may perform ``ram_action`` on ``resource_arn``."""
    if principal.is_admin:
        return Allow("account administrator")
    return Deny(f"no policy allows {ram_action} on {resource_arn} for {principal.arn}")
