"""Keys: the list with its filters, a key's detail, and the changes people make by hand (state,
deletion, rotation, aliases, tags and the key policy)."""

from __future__ import annotations

import json
from typing import Any, Final

from mamori.api.errors import ApiError
from mamori.gateway.console.http import Response
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.pages import Page, route

# The ListKeys filters the list page offers (the API's own filter keys and values).
FILTERS: Final = {
    "KeyState": ("Enabled", "Disabled", "PendingDeletion", "PendingImport"),
    "KeySpec": (
        "Aliyun_AES_256",
        "Aliyun_SM4",
        "RSA_2048",
        "RSA_3072",
        "EC_P256",
        "EC_P256K",
        "EC_SM2",
        "HMAC_SHA256",
    ),
    "KeyUsage": ("ENCRYPT/DECRYPT", "SIGN/VERIFY", "GENERATE/VERIFY_MAC"),
    "ProtectionLevel": ("SOFTWARE", "HSM"),
}
PAGE_SIZE: Final = 20
# A well-formed Tags parameter, for asking whether TagResource would be allowed at all.
_ONE_TAG: Final = '[{"TagKey": "k", "TagValue": "v"}]'


def _optional(page: Page, action: str, **params: str) -> Any:
    """A detail that this principal may not be allowed to read: None rather than a refusal
    of the whole page."""
    try:
        return page.caller.run("kms", action, **params)
    except ApiError:
        return None


def key_list(page: Page) -> Response:
    """GET /keys: ListKeys with the chosen filters, each key described."""
    chosen = {k: page.request.query.get(k, "") for k in FILTERS}
    filters = [{"Key": k, "Values": [v]} for k, v in chosen.items() if v]
    number = page.request.query.get("page", "1")
    params = {"PageNumber": number, "PageSize": str(PAGE_SIZE)}
    if filters:
        params["Filters"] = json.dumps(filters)
    listing = page.caller.run("kms", "ListKeys", **params)
    rows = []
    for key in listing["Keys"]["Key"]:
        described = _optional(page, "DescribeKey", KeyId=key["KeyId"])
        aliases = _optional(page, "ListAliasesByKeyId", KeyId=key["KeyId"], PageSize="5")
        rows.append(
            {
                "id": key["KeyId"],
                "meta": described["KeyMetadata"] if described else None,
                "aliases": [a["AliasName"] for a in aliases["Aliases"]["Alias"]] if aliases else [],
            }
        )
    total = int(listing["TotalCount"])
    return page.render(
        "keys.html",
        rows=rows,
        filters=FILTERS,
        chosen=chosen,
        page_number=int(listing["PageNumber"]),
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        may_create=page.caller.may("kms", "CreateKey"),
    )


def key_create(page: Page) -> Response:
    """POST /keys: CreateKey with the form's spec, usage, protection and description."""
    params = {
        name: page.form(name)
        for name in ("KeySpec", "KeyUsage", "ProtectionLevel", "Description")
        if page.form(name)
    }
    created = page.caller.run("kms", "CreateKey", **params)
    key_id = created["KeyMetadata"]["KeyId"]
    return page.done(f"Created key {key_id}.", f"{PREFIX}/keys/{key_id}")


def key_detail(page: Page, key_id: str) -> Response:
    """GET /keys/{id}: metadata, versions, aliases, tags, rotation, deletion, the key policy."""
    meta = page.caller.run("kms", "DescribeKey", KeyId=key_id)["KeyMetadata"]
    versions = _optional(page, "ListKeyVersions", KeyId=key_id, PageSize="100")
    aliases = _optional(page, "ListAliasesByKeyId", KeyId=key_id, PageSize="100")
    tags = _optional(page, "ListResourceTags", KeyId=key_id)
    policy = _optional(page, "GetKeyPolicy", KeyId=key_id)
    may = page.caller.may
    return page.render(
        "key.html",
        meta=meta,
        versions=versions["KeyVersions"]["KeyVersion"] if versions else None,
        aliases=aliases["Aliases"]["Alias"] if aliases else None,
        tags=tags["Tags"]["Tag"] if tags else None,
        policy=_pretty(policy["Policy"]) if policy else None,
        may={
            "alias": may("kms", "CreateAlias", KeyId=key_id, AliasName="alias/console"),
            "unalias": {
                a["AliasName"]: may("kms", "DeleteAlias", AliasName=a["AliasName"])
                for a in (aliases["Aliases"]["Alias"] if aliases else [])
            },
            "tag": may("kms", "TagResource", KeyId=key_id, Tags=_ONE_TAG),
            "untag": may("kms", "UntagResource", KeyId=key_id, TagKeys='["k"]'),
            "policy": may("kms", "SetKeyPolicy", KeyId=key_id, PolicyName="default", Policy="{}"),
            "enable": may("kms", "EnableKey", KeyId=key_id),
            "disable": may("kms", "DisableKey", KeyId=key_id),
            "schedule": may("kms", "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays="7"),
            "cancel": may("kms", "CancelKeyDeletion", KeyId=key_id),
            "rotate": may("kms", "CreateKeyVersion", KeyId=key_id),
        },
    )


def _pretty(document: str) -> str:
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return document


def _change(action: str, done: str, **extra: str) -> Any:
    """A POST view running one key action on the key in the path."""

    def view(page: Page, key_id: str) -> Response:
        params = {name: page.form(name) for name in extra}
        page.caller.run("kms", action, KeyId=key_id, **params)
        return page.done(done.format(key_id=key_id, **params), f"{PREFIX}/keys/{key_id}")

    return view


def alias_create(page: Page, key_id: str) -> Response:
    """POST /keys/{id}/aliases: CreateAlias for this key."""
    name = page.form("AliasName")
    page.caller.run("kms", "CreateAlias", AliasName=name, KeyId=key_id)
    return page.done(f"Added {name} to {key_id}.", f"{PREFIX}/keys/{key_id}")


def alias_delete(page: Page, key_id: str) -> Response:
    """POST /keys/{id}/aliases/delete: DeleteAlias (the API names only the alias)."""
    name = page.form("AliasName")
    page.caller.run("kms", "DeleteAlias", AliasName=name)
    return page.done(f"Deleted {name}.", f"{PREFIX}/keys/{key_id}")


def tag_add(page: Page, key_id: str) -> Response:
    """POST /keys/{id}/tags: TagResource with one tag (a tag key already there is updated)."""
    tag_key, value = page.form("TagKey"), page.form("TagValue")
    tags = json.dumps([{"TagKey": tag_key, "TagValue": value}])
    page.caller.run("kms", "TagResource", KeyId=key_id, Tags=tags)
    return page.done(f"Tagged {key_id} {tag_key}={value}.", f"{PREFIX}/keys/{key_id}")


def tag_remove(page: Page, key_id: str) -> Response:
    """POST /keys/{id}/tags/delete: UntagResource of one tag key."""
    tag_key = page.form("TagKey")
    page.caller.run("kms", "UntagResource", KeyId=key_id, TagKeys=json.dumps([tag_key]))
    return page.done(f"Removed tag {tag_key} from {key_id}.", f"{PREFIX}/keys/{key_id}")


def policy_set(page: Page, key_id: str) -> Response:
    """POST /keys/{id}/policy: SetKeyPolicy (the document is checked by the API, not here)."""
    page.caller.run(
        "kms", "SetKeyPolicy", KeyId=key_id, PolicyName="default", Policy=page.form("Policy")
    )
    return page.done(f"Saved the key policy of {key_id}.", f"{PREFIX}/keys/{key_id}")


ROUTES: Final = (
    route("GET", "/keys", key_list),
    route("POST", "/keys", key_create),
    route("GET", "/keys/{key_id}", key_detail),
    route("POST", "/keys/{key_id}/aliases", alias_create),
    route("POST", "/keys/{key_id}/aliases/delete", alias_delete),
    route("POST", "/keys/{key_id}/tags", tag_add),
    route("POST", "/keys/{key_id}/tags/delete", tag_remove),
    route("POST", "/keys/{key_id}/policy", policy_set),
    route("POST", "/keys/{key_id}/enable", _change("EnableKey", "Enabled {key_id}.")),
    route("POST", "/keys/{key_id}/disable", _change("DisableKey", "Disabled {key_id}.")),
    route(
        "POST",
        "/keys/{key_id}/schedule-deletion",
        _change(
            "ScheduleKeyDeletion",
            "Scheduled {key_id} for deletion in {PendingWindowInDays} days.",
            PendingWindowInDays="",
        ),
    ),
    route(
        "POST",
        "/keys/{key_id}/cancel-deletion",
        _change("CancelKeyDeletion", "Cancelled the deletion of {key_id}."),
    ),
    route(
        "POST",
        "/keys/{key_id}/rotate",
        _change("CreateKeyVersion", "Made a new primary version of {key_id}."),
    ),
)
