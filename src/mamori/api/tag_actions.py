"""Tag actions: one resource (TagResource…) and batches (TagResources…)."""

from __future__ import annotations

import base64
import binascii

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.errors import ApiError, invalid, missing
from mamori.api.key_actions import KEY_ID, key_resource
from mamori.api.params import Bool, FlatList, FlatTags, JsonStrList, JsonTags, Str
from mamori.core import tags as tag_store

RESOURCE_TYPES = ("key", "secret")
_PAGE = 50


def _single_key(call: Call, args: Args) -> str:
    named = [n for n in ("KeyId", "SecretName", "CertificateId") if args.get(n)]
    if len(named) != 1:
        raise invalid("KeyId", "Name exactly one of KeyId, SecretName or CertificateId.")
    if named[0] != "KeyId":
        # Secrets and certificates do not exist yet; tagging one finds nothing.
        raise ApiError("Forbidden.ResourceNotFound")
    return str(call.services.keys.resolve(call.scope, args["KeyId"]).id)


def tag_resource(call: Call, args: Args) -> Result:
    """TagResource."""
    key_id = _single_key(call, args)
    tag_store.tag_resources(call.services.db, call.scope.account_id, "key", [key_id], args["Tags"])
    return {}


def untag_resource(call: Call, args: Args) -> Result:
    """UntagResource."""
    key_id = _single_key(call, args)
    tag_store.untag_resources(call.services.db, "key", [key_id], args["TagKeys"])
    return {}


def list_resource_tags(call: Call, args: Args) -> Result:
    """ListResourceTags."""
    key_id = call.services.keys.resolve(call.scope, args["KeyId"]).id
    tags = tag_store.of(call.services.db, "key", [key_id])[key_id]
    return {
        "Tags": {"Tag": [{"KeyId": key_id, "TagKey": k, "TagValue": v} for k, v in tags.items()]}
    }


def _batch_keys(call: Call, args: Args) -> list[str]:
    if args["ResourceType"] != "key":
        raise ApiError("Forbidden.ResourceNotFound")
    return [call.services.keys.resolve(call.scope, rid).id for rid in args["ResourceId"]]


def tag_resources(call: Call, args: Args) -> Result:
    """TagResources."""
    key_ids = _batch_keys(call, args)
    tag_store.tag_resources(call.services.db, call.scope.account_id, "key", key_ids, args["Tag"])
    return {}


def untag_resources(call: Call, args: Args) -> Result:
    """UntagResources: the named TagKey.N, or every tag with All=true."""
    key_ids = _batch_keys(call, args)
    if args["All"]:
        keys = None
    elif args["TagKey"]:
        keys = args["TagKey"]
    else:
        raise missing("TagKey.1")
    tag_store.untag_resources(call.services.db, "key", key_ids, keys)
    return {}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "o" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid("NextToken")


def list_tag_resources(call: Call, args: Args) -> Result:
    """ListTagResources: tags of the named resources, or resources carrying the named tags."""
    if args["ResourceType"] != "key":
        raise ApiError("Forbidden.ResourceNotFound")
    offset = _offset(args["NextToken"])
    if args["ResourceId"]:
        ids = [call.services.keys.resolve(call.scope, rid).id for rid in args["ResourceId"]]
        by_resource = tag_store.of(call.services.db, "key", ids)
    else:
        by_resource = tag_store.of_account(call.services.db, call.scope.account_id, "key")
    wanted = args["Tag"]
    rows = [
        {"ResourceId": rid, "ResourceType": "key", "TagKey": k, "TagValue": v}
        for rid, tags in sorted(by_resource.items())
        for k, v in tags.items()
        if not wanted or any(k == wk and (not wv or v == wv) for wk, wv in wanted)
    ]
    chosen = rows[offset : offset + _PAGE]
    result: Result = {"TagResources": {"TagResource": chosen}}
    if offset + _PAGE < len(rows):
        result["NextToken"] = _token(offset + _PAGE)
    return result


_ONE = (
    Str("KeyId", max_len=2048),
    Str("SecretName", max_len=192),
    Str("CertificateId", max_len=128),
)
_BATCH = (
    Str("RegionId", required=True, max_len=64),
    Str("ResourceType", required=True, choices=RESOURCE_TYPES),
)

ACTIONS = (
    Action(
        "TagResource",
        (*_ONE, JsonTags("Tags", required=True, max_len=8192)),
        tag_resource,
        key_resource,
    ),
    Action(
        "UntagResource",
        (*_ONE, JsonStrList("TagKeys", required=True, max_len=8192)),
        untag_resource,
        key_resource,
    ),
    Action("ListResourceTags", (KEY_ID,), list_resource_tags, key_resource),
    Action(
        "TagResources",
        (*_BATCH, FlatList("ResourceId", required=True), FlatTags("Tag", required=True)),
        tag_resources,
    ),
    Action(
        "UntagResources",
        (*_BATCH, FlatList("ResourceId", required=True), FlatList("TagKey"), Bool("All")),
        untag_resources,
    ),
    Action(
        "ListTagResources",
        (*_BATCH, FlatList("ResourceId"), FlatTags("Tag"), Str("NextToken", max_len=256)),
        list_tag_resources,
    ),
)
