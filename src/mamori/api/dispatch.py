"""Running one action for an authenticated principal: parse, authorize, execute, map errors.

Both gateways call ``invoke``; it is the one place where domain exceptions become wire errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from mamori.api.catalogue import Action, Args, Call, Result, Services, Touch
from mamori.api.errors import ApiError, invalid
from mamori.api.names import check_names
from mamori.api.unimplemented import refuse_unimplemented
from mamori.core import tags
from mamori.core.errors import DomainError
from mamori.core.refs import Scope
from mamori.core.secrets import tag_id
from mamori.iam.authorize import Allow, Decision, Deny, Origin
from mamori.iam.principal import Principal


def _as_api_error(exc: DomainError) -> ApiError:
    return ApiError(exc.code, **exc.fields)


def _dry_run(raw: Mapping[str, str]) -> bool:
    return raw.get("DryRun", "").strip().lower() == "true"


def _tagged(resource: str) -> tuple[str, str] | None:
    """The tag store's (type, id) of the resource an ARN names: ``:key/<id>`` or
    ``:secret/<name>``; None for any other resource."""
    parts = resource.split(":", 4)
    if len(parts) != 5 or parts[:2] != ["acs", "kms"]:
        return None
    kind, _, rid = parts[4].partition("/")
    if not rid:
        return None
    if kind == "key":
        return "key", rid
    if kind == "secret":
        return "secret", tag_id(parts[3], rid)
    return None


class _ResourceTags(Mapping[str, str]):
    """The tags of a key or secret, read from the store only if a policy condition asks."""

    def __init__(self, services: Services, resource: str) -> None:
        self._services = services
        self._target = _tagged(resource)
        self._tags: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._tags is None:
            if self._target is None:
                self._tags = {}
            else:
                kind, rid = self._target
                self._tags = tags.of(self._services.db, kind, [rid]).get(rid, {})
        return self._tags

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def decide(
    call: Call, ram_action: str, resource: str, context: Mapping[str, str] | None = None
) -> Decision:
    """The caller's decision for ``ram_action`` on ``resource``, as the action itself gets it
    (handlers that authorize each item of a batch use this)."""
    return call.services.authorizer.authorize(
        call.principal,
        ram_action,
        resource,
        call.origin,
        encryption_context=context,
        resource_tags=_ResourceTags(call.services, resource),
    )


def readable(call: Call, ram_action: str) -> Callable[[str], bool]:
    """For listings that show or match on what resources carry (tags, descriptions, state):
    whether the caller is allowed ``ram_action`` on a resource's ARN. Ids and names are listed
    account-wide, as on AWS and Alibaba; what a resource carries only where the caller may read
    it. The administrator is allowed everything, without an authorization per resource."""
    if call.principal.is_admin:
        return lambda _arn: True
    return lambda arn: isinstance(decide(call, ram_action, arn), Allow)


def require(call: Call, ram_action: str, resource: str, named: str | None = None) -> None:
    """Refuse unless the caller may do ``ram_action`` on ``resource``: for resources only the
    handler can know (a batch's items reported one by one, a secret named inside a parameter).
    ``named`` is how the request named it, when not by that very ARN."""
    require_touch(call, Touch(resource, resource if named is None else named, ram_action))


def require_touch(call: Call, touch: Touch) -> None:
    """``require`` for a resource described as the catalogue describes one (its RAM action
    must be set: a handler does not know its action's)."""
    decision = decide(call, touch.ram_action, touch.arn, touch.context)
    _refuse_unless_allowed(decision, touch.ram_action, touch.named, call.dry_run, touch.deny_only)


_UNNAMED = "the resource this request names"


def _refuse_unless_allowed(
    decision: Decision, ram_action: str, named: str, dry_run: bool, deny_only: bool = False
) -> None:
    """The refusal says the action and the resource as the request named it, nothing else:
    the decision's reason may name the key behind an alias or a blob, or another's policy."""
    if isinstance(decision, Deny) and (decision.explicit or not deny_only):
        on = named or _UNNAMED
        if dry_run:
            raise ApiError("AccessDeniedError", detail=f"{ram_action} on {on}")
        raise ApiError(
            "Forbidden.NoPermission", action=ram_action, reason=f"It is not allowed on {on}."
        )


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
    authorizer = services.authorizer
    if action.resources is None:
        # One resource: the hot path (Encrypt), kept free of anything the general case needs.
        resource = action.resource(services, scope, args)
        decision = authorizer.authorize(
            principal,
            action.ram_action,
            resource,
            origin,
            encryption_context=args.get("EncryptionContext"),
            resource_tags=_ResourceTags(services, resource),
        )
        _refuse_unless_allowed(decision, action.ram_action, "", dry_run)
        return
    touch: Touch
    for touch in action.resources(services, scope, args):
        ram_action = touch.ram_action or action.ram_action
        decision = authorizer.authorize(
            principal,
            ram_action,
            touch.arn,
            origin,
            encryption_context=touch.context,
            resource_tags=_ResourceTags(services, touch.arn),
        )
        _refuse_unless_allowed(decision, ram_action, touch.named, dry_run, touch.deny_only)


def invoke(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    raw: Mapping[str, str],
    origin: Origin,
    transport: Collection[str] = frozenset(),
) -> Result:
    """Execute ``action``; raises ``ApiError`` for every expected failure. ``transport`` names
    the parameters the gateway consumed itself (the RPC signature's), which the action need
    not declare; any other name it does not read is refused (``api/names.py``). Read-only
    actions only: any other goes through ``prepare`` and ``execute``, its intent record made
    durable in between (the gateways check ``Action.read_only``)."""
    return execute(prepare(action, principal, scope, services, raw, origin, transport))


@dataclass(frozen=True, slots=True)
class Prepared:
    """An action parsed and authorized, its handler not yet run: the gateway makes the
    action's intent record durable in between (``read_only`` is False; docs/audit.md)."""

    action: Action
    call: Call
    args: Args


def prepare(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    raw: Mapping[str, str],
    origin: Origin,
    transport: Collection[str] = frozenset(),
) -> Prepared:
    """``invoke`` up to its handler: every check that refuses a request before it acts.
    ``execute`` runs the rest; together they answer exactly as ``invoke`` does."""
    dry_run = _dry_run(raw) and any(p.name == "DryRun" for p in action.params)
    try:
        # No parameter may carry a NUL: PostgreSQL text cannot hold one (it would be a 500).
        # Names too: a flattened map's keys arrive as names (EncryptionContext.<key>), and the
        # JSON form refuses a key with a NUL (load_json); the flat one must not bypass that.
        for name, value in raw.items():
            if "\x00" in value or "\x00" in name:
                raise invalid(name.replace("\x00", "\\x00")[:64], "It contains a NUL character.")
        refuse_unimplemented(action, raw)
        check_names(action, raw, transport)
        args = action.parse(raw)
        try:
            _authorize(action, principal, scope, services, args, origin, dry_run)
        except DomainError as exc:
            raise _as_api_error(exc) from None
    except ApiError as exc:
        raise _in_dry_run(exc, dry_run) from None
    return Prepared(action, Call(principal, scope, services, dry_run, origin), args)


def execute(prepared: Prepared) -> Result:
    """Run a prepared action's handler; raises ``ApiError`` as ``invoke`` does."""
    call = prepared.call
    try:
        try:
            return prepared.action.handler(call, prepared.args)
        except DomainError as exc:
            raise _as_api_error(exc) from None
    except ApiError as exc:
        raise _in_dry_run(exc, call.dry_run) from None


def _in_dry_run(exc: ApiError, dry_run: bool) -> ApiError:
    if dry_run and exc.code not in ("DryRunOperationError", "AccessDeniedError"):
        return ApiError("ValidationError", detail=f"{exc.code}: {exc.message}")
    return exc


def permitted(
    action: Action,
    principal: Principal,
    scope: Scope,
    services: Services,
    raw: Mapping[str, str],
    origin: Origin,
) -> bool:
    """Whether ``invoke`` would let ``principal`` past authorization with ``raw``, without
    running the action (the console shows only the buttons its user may press; pressing one
    still goes through ``invoke``). Parameters that do not parse count as not permitted."""
    try:
        args = action.parse(raw)
        _authorize(action, principal, scope, services, args, origin, False)
    except (ApiError, DomainError):
        return False
    return True
