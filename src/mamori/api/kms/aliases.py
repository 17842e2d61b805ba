"""Alias actions."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.api.catalogue import (
    PAGE_NUMBER,
    PAGE_SIZE,
    Action,
    Args,
    Call,
    Result,
    Services,
    Touch,
    paging,
)
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import Str
from mamori.api.render import page
from mamori.core.errors import KeyNotFound
from mamori.core.model import Alias
from mamori.core.refs import Scope

ALIAS_NAME = Str("AliasName", required=True, max_len=255)


def _alias_and_keys(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """An alias change touches the alias, the key it points to now (the one it leaves, or the
    one that loses it) and the key named by KeyId (the one it will point to): the caller needs
    the action on each, as AWS requires, so that nobody can move ``alias/prod`` onto a key of
    their own, or take it away from the production key."""
    alias: str = args["AliasName"]
    yield Touch(scope.alias_arn(alias), f"AliasName {alias}")
    try:
        current = services.keys.resolve(scope, alias).id
    except KeyNotFound:
        pass  # no such alias (yet): the handler says so, or creates it
    else:
        yield Touch(scope.key_arn(current), f"the key AliasName {alias} points to")
    if args.get("KeyId") is not None:
        yield Touch(key_resource(services, scope, args), f"KeyId {args['KeyId']}")


def _alias(scope: Scope, alias: Alias) -> dict[str, str]:
    return {"AliasName": alias.name, "AliasArn": scope.alias_arn(alias.name), "KeyId": alias.key_id}


def create_alias(call: Call, args: Args) -> Result:
    """CreateAlias."""
    call.services.aliases.create(call.scope, args["AliasName"], args["KeyId"])
    return {}


def update_alias(call: Call, args: Args) -> Result:
    """UpdateAlias."""
    call.services.aliases.update(call.scope, args["AliasName"], args["KeyId"])
    return {}


def delete_alias(call: Call, args: Args) -> Result:
    """DeleteAlias."""
    call.services.aliases.delete(call.scope, args["AliasName"])
    return {}


def _listing(call: Call, args: Args, key_id: str | None) -> Result:
    number, size, offset, limit = paging(args)
    aliases, total = call.services.aliases.listing(call.scope, key_id, offset, limit)
    return {
        "Aliases": {"Alias": [_alias(call.scope, a) for a in aliases]},
        **page(number, size, total),
    }


def list_aliases(call: Call, args: Args) -> Result:
    """ListAliases."""
    return _listing(call, args, None)


def list_aliases_by_key_id(call: Call, args: Args) -> Result:
    """ListAliasesByKeyId."""
    return _listing(call, args, call.services.keys.resolve(call.scope, args["KeyId"]).id)


ACTIONS = (
    Action("CreateAlias", (ALIAS_NAME, KEY_ID), create_alias, resources=_alias_and_keys),
    Action("UpdateAlias", (ALIAS_NAME, KEY_ID), update_alias, resources=_alias_and_keys),
    Action("DeleteAlias", (ALIAS_NAME,), delete_alias, resources=_alias_and_keys),
    Action("ListAliases", (PAGE_NUMBER, PAGE_SIZE), list_aliases, read_only=True),
    Action(
        "ListAliasesByKeyId",
        (KEY_ID, PAGE_NUMBER, PAGE_SIZE),
        list_aliases_by_key_id,
        key_resource,
        read_only=True,
    ),
)
