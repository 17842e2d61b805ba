"""Running one action for an authenticated principal: parse, authorize, execute, map errors.

Both gateways call ``invoke``; it is the one place where domain exceptions become wire errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from mamori.api.catalogue import Action, Call, Result, Services
from mamori.api.errors import ApiError, invalid
from mamori.core.errors import DomainError
from mamori.core.refs import Scope
from mamori.iam.authorize import Deny, authorize
from mamori.iam.principal import Principal


def _as_api_error(exc: DomainError) -> ApiError:
    return ApiError(exc.code, **exc.fields)


def _dry_run(raw: Mapping[str, str]) -> bool:
    return raw.get("DryRun", "").strip().lower() == "true"


def invoke(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    raw: Mapping[str, str],
) -> Result:
    """Execute ``action``; raises ``ApiError`` for every expected failure."""
    dry_run = _dry_run(raw) and any(p.name == "DryRun" for p in action.params)
    try:
        # No parameter may carry a NUL: PostgreSQL text cannot hold one (it would be a 500).
        for name, value in raw.items():
            if "\x00" in value:
                raise invalid(name, "It contains a NUL character.")
        args = action.parse(raw)
        decision = authorize(principal, action.ram_action, action.resource(scope, args))
        if isinstance(decision, Deny):
            if dry_run:
                raise ApiError("AccessDeniedError", detail=decision.reason)
            raise ApiError(
                "Forbidden.NoPermission", action=action.ram_action, reason=decision.reason
            )
        try:
            return action.handler(Call(principal, scope, services, dry_run), args)
        except DomainError as exc:
            raise _as_api_error(exc) from None
    except ApiError as exc:
        if dry_run and exc.code not in ("DryRunOperationError", "AccessDeniedError"):
            raise ApiError("ValidationError", detail=f"{exc.code}: {exc.message}") from None
        raise
