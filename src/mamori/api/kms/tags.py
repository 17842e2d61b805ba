"""Tag actions: one resource (TagResource…) and batches (TagResources…)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator

from mamori.api.catalogue import Action, Args, Call, Result, Services, Touch, account_resource
from mamori.api.dispatch import readable
from mamori.api.errors import invalid, missing
from mamori.api.kms.certificates import certificate_resource
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import Bool, FlatList, FlatTags, JsonStrList, JsonTags, Str
from mamori.api.secrets.values import secret_resource
from mamori.core import tags as tag_store
from mamori.core.refs import Scope
from mamori.core.secrets import tag_id

RESOURCE_TYPES = ("key", "secret")
_PAGE = 50


def _single(call: Call, args: Args) -> tuple[str, str]:
    """The (resource type, tag-store id) TagResource/UntagResource name; unknown → not found."""
    named = [n for n in ("KeyId", "SecretName", "CertificateId") if args.get(n)]
    if len(named) != 1:
        raise invalid("KeyId", "Name exactly one of KeyId, SecretName or CertificateId.")
    if named[0] == "KeyId":
        return "key", str(call.services.keys.resolve(call.scope, args["KeyId"]).id)
    if named[0] == "SecretName":
        # A secret in its delete window may still be tagged (as AWS allows).
        secret = call.services.secrets.get(call.scope, args["SecretName"])
        return "secret", tag_id(call.scope.account_id, secret.name)
    return "certificate", call.services.certificates.get(call.scope, args["CertificateId"]).id


def single_resource(services: Services, scope: Scope, args: Args) -> str:
    """The ARN TagResource/UntagResource authorize against: the secret's or the
    certificate's, else the key's."""
    if args.get("CertificateId") and not args.get("KeyId") and not args.get("SecretName"):
        return certificate_resource(services, scope, args)
    if args.get("SecretName") and not args.get("KeyId"):
        return secret_resource(services, scope, args)
    return key_resource(services, scope, args)


def batch_resources(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """Each ResourceId of a batch, authorized as the one-resource actions authorize it (a key,
    its alias resolved, or a secret), so a Deny or tag condition on any of them holds. Listing
    without ResourceId reads the whole account's tags: an action on the account."""
    ids: list[str] = args.get("ResourceId") or []
    if not ids:
        yield Touch(account_resource(services, scope, args), "the account")
    for rid in ids:
        if args["ResourceType"] == "key":
            arn = key_resource(services, scope, {"KeyId": rid})
        else:
            arn = secret_resource(services, scope, {"SecretName": rid})
        yield Touch(arn, f"ResourceId {rid}")


def tag_resource(call: Call, args: Args) -> Result:
    """TagResource: a key (KeyId) or a secret (SecretName)."""
    kind, rid = _single(call, args)
    tag_store.tag_resources(call.services.db, call.scope.account_id, kind, [rid], args["Tags"])
    return {}


def untag_resource(call: Call, args: Args) -> Result:
    """UntagResource: a key (KeyId) or a secret (SecretName)."""
    kind, rid = _single(call, args)
    tag_store.untag_resources(call.services.db, kind, [rid], args["TagKeys"])
    return {}


def list_resource_tags(call: Call, args: Args) -> Result:
    """ListResourceTags (keys only: the action takes only KeyId)."""
    key_id = call.services.keys.resolve(call.scope, args["KeyId"]).id
    tags = tag_store.of(call.services.db, "key", [key_id])[key_id]
    return {
        "Tags": {"Tag": [{"KeyId": key_id, "TagKey": k, "TagValue": v} for k, v in tags.items()]}
    }


def _store_id(call: Call, kind: str, resource_id: str) -> str:
    """The tag-store id of one batch ResourceId (a key id or alias, or a secret name)."""
    if kind == "key":
        return str(call.services.keys.resolve(call.scope, resource_id).id)
    secret = call.services.secrets.get(call.scope, resource_id)
    return tag_id(call.scope.account_id, secret.name)


def _public_id(call: Call, kind: str, store_id: str) -> str:
    """The ResourceId a listing shows: the key id, or the secret name."""
    if kind == "key":
        return store_id
    return store_id.removeprefix(f"{call.scope.account_id}/")


def _arn(call: Call, kind: str, store_id: str) -> str:
    """The ARN of a resource by its tag-store id."""
    if kind == "key":
        return call.scope.key_arn(store_id)
    return secret_resource(
        call.services, call.scope, {"SecretName": _public_id(call, kind, store_id)}
    )


def _wanted(key: str, value: str, wanted: list[tuple[str, str]]) -> bool:
    """Whether a tag matches a ListTagResources Tag filter (a key, and a value if given)."""
    return any(key == wk and (not wv or value == wv) for wk, wv in wanted)


def _batch(call: Call, args: Args) -> tuple[str, list[str]]:
    """Every named resource resolved before anything is written (no partial state)."""
    kind: str = args["ResourceType"]
    return kind, [_store_id(call, kind, rid) for rid in args["ResourceId"]]


def tag_resources(call: Call, args: Args) -> Result:
    """TagResources."""
    kind, ids = _batch(call, args)
    tag_store.tag_resources(call.services.db, call.scope.account_id, kind, ids, args["Tag"])
    return {}


def untag_resources(call: Call, args: Args) -> Result:
    """UntagResources: the named TagKey.N, or every tag with All=true."""
    kind, ids = _batch(call, args)
    if args["All"]:
        keys = None
    elif args["TagKey"]:
        keys = args["TagKey"]
    else:
        raise missing("TagKey.1")
    tag_store.untag_resources(call.services.db, kind, ids, keys)
    return {}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "o" and number.isascii() and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid("NextToken")


def list_tag_resources(call: Call, args: Args) -> Result:
    """ListTagResources: tags of the named resources, or resources carrying the named tags.
    Without ResourceId (authorized on the account), only resources on which the caller is
    allowed kms:ListTagResources are shown (each named ResourceId was authorized already)."""
    kind: str = args["ResourceType"]
    offset = _offset(args["NextToken"])
    may: Callable[[str], bool] | None = None
    if args["ResourceId"]:
        ids = [_store_id(call, kind, rid) for rid in args["ResourceId"]]
        by_resource = tag_store.of(call.services.db, kind, ids)
    else:
        by_resource = tag_store.of_account(call.services.db, call.scope.account_id, kind)
        may = readable(call, "kms:ListTagResources")
    wanted: list[tuple[str, str]] = args["Tag"] or []
    rows = []
    for rid, tags in sorted(by_resource.items()):
        pairs = [(k, v) for k, v in tags.items() if not wanted or _wanted(k, v, wanted)]
        # Authorized after the tag filter: one decision per resource that would be shown.
        if not pairs or (may is not None and not may(_arn(call, kind, rid))):
            continue
        public = _public_id(call, kind, rid)
        rows += [
            {"ResourceId": public, "ResourceType": kind, "TagKey": k, "TagValue": v}
            for k, v in pairs
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
        single_resource,
    ),
    Action(
        "UntagResource",
        (*_ONE, JsonStrList("TagKeys", required=True, max_len=8192)),
        untag_resource,
        single_resource,
    ),
    Action("ListResourceTags", (KEY_ID,), list_resource_tags, key_resource, read_only=True),
    Action(
        "TagResources",
        (*_BATCH, FlatList("ResourceId", required=True), FlatTags("Tag", required=True)),
        tag_resources,
        resources=batch_resources,
    ),
    Action(
        "UntagResources",
        (*_BATCH, FlatList("ResourceId", required=True), FlatList("TagKey"), Bool("All")),
        untag_resources,
        resources=batch_resources,
    ),
    Action(
        "ListTagResources",
        (*_BATCH, FlatList("ResourceId"), FlatTags("Tag"), Str("NextToken", max_len=256)),
        list_tag_resources,
        resources=batch_resources,
        read_only=True,
    ),
)
