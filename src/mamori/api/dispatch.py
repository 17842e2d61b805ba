"""Running one action for an authenticated principal: parse, authorize, execute, map errors.

Both gateways call ``invoke``; it is the one place where domain exceptions become wire errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mamori.api.catalogue import Action, Args, Call, Result, Services
from mamori.api.errors import ApiError, invalid
from mamori.core import tags
from mamori.core.errors import DomainError
from mamori.core.refs import Scope
from mamori.iam.authorize import Deny, Origin
from mamori.iam.principal import Principal


def _as_api_error(exc: DomainError) -> ApiError:
    return ApiError(exc.code, **exc.fields)


def _dry_run(raw: Mapping[str, str]) -> bool:
    return raw.get("DryRun", "").strip().lower() == "true"


class _KeyTags(Mapping[str, str]):
    """A key's tags, read from the store only if a policy condition asks for one."""

    def __init__(self, services: Services, resource: str) -> None:
        self._services = services
        self._key_id = resource.rsplit(":key/", 1)[1] if ":key/" in resource else ""
        self._tags: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._tags is None:
            found = tags.of(self._services.db, "key", [self._key_id]) if self._key_id else {}
            self._tags = found.get(self._key_id, {})
        return self._tags

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _authorize(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    args: Args,
    origin: Origin,
    dry_run: bool,
) -> None:
    if principal.is_admin or not action.authorize:
        return
    resource = action.resource(services, scope, args)
    decision = services.authorizer.authorize(
        principal,
        action.ram_action,
        resource,
        origin,
        encryption_context=args.get("EncryptionContext"),
        resource_tags=_KeyTags(services, resource),
    )
    if isinstance(decision, Deny):
        if dry_run:
            raise ApiError("AccessDeniedError", detail=decision.reason)
        raise ApiError("Forbidden.NoPermission", action=action.ram_action, reason=decision.reason)


def invoke(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    raw: Mapping[str, str],
    origin: Origin,
) -> Result:
    """Execute ``action``; raises ``ApiError`` for every expected failure."""
    dry_run = _dry_run(raw) and any(p.name == "DryRun" for p in action.params)
    try:
        # No parameter may carry a NUL: PostgreSQL text cannot hold one (it would be a 500).
        for name, value in raw.items():
            if "\x00" in value:
                raise invalid(name, "It contains a NUL character.")
        args = action.parse(raw)
        try:
            _authorize(action, principal, scope, services, args, origin, dry_run)
            return action.handler(Call(principal, scope, services, dry_run), args)
        except DomainError as exc:
            raise _as_api_error(exc) from None
    except ApiError as exc:
        if dry_run and exc.code not in ("DryRunOperationError", "AccessDeniedError"):
            raise ApiError("ValidationError", detail=f"{exc.code}: {exc.message}") from None
        raise
