"""Key management actions: create, describe, list, state, deletion, rotation, versions."""

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
    account_resource,
    paging,
)
from mamori.api.dispatch import readable
from mamori.api.errors import missing
from mamori.api.instances.views import placement_touch
from mamori.api.params import Bool, Int, JsonFilters, JsonTags, Str
from mamori.api.render import key_metadata, key_version, page
from mamori.core import tags as tag_store
from mamori.core.errors import InvalidInput, KeyNotFound
from mamori.core.keys import NewKey
from mamori.core.model import KeyRecord, parse_interval
from mamori.core.refs import Scope, parse_key_ref
from mamori.iam.key_policies import validate as validate_key_policy

KEY_ID = Str("KeyId", required=True, max_len=2048)
LIST_FILTER_KEYS = (
    "KeyState",
    "KeySpec",
    "KeyUsage",
    "ProtectionLevel",
    "CreatorType",
    "DKMSInstanceId",
    "keyId",
    "AliasName",
    "Creator",
    "TagKey",
    "TagValue",
)


def key_resource(services: Services, scope: Scope, args: Args) -> str:
    """The key ARN a KeyId parameter names; an alias is resolved to its key, so policies are
    written against keys (an alias that names nothing stays an alias ARN)."""
    text = args.get("KeyId") or ""
    ref = parse_key_ref(scope, text)
    if ref is None:
        return text
    if ref.alias is not None:
        try:
            return scope.key_arn(services.keys.resolve(scope, ref.alias).id)
        except KeyNotFound:
            return scope.alias_arn(ref.alias)
    return scope.key_arn(ref.key_id or "")


# What creating a key or secret with Tags needs besides the create action itself.
TAG_RESOURCE = "kms:TagResource"


def _create_key_resources(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """CreateKey: the account (as before instances), and the KMS instance the key goes in.
    Tags need ``kms:TagResource`` too (as in AWS KMS): a policy may key on ``kms:tag/…``, and
    a right to create is no right to mint a key carrying the tag that unlocks it."""
    yield Touch(account_resource(services, scope, args), "")
    yield placement_touch(services, scope, args["DKMSInstanceId"])
    if args["Tags"]:
        yield Touch(scope.key_arn("*"), "", TAG_RESOURCE)


def _interval(args: Args) -> int | None:
    text = args.get("RotationInterval")
    if text is None:
        return None
    seconds = parse_interval(text)
    if seconds is None:
        raise InvalidInput("RotationInterval", "Use a number followed by d, h, m or s.")
    return seconds


def _creator(call: Call) -> str:
    principal = call.principal
    return principal.account_id if principal.is_admin else principal.name


def create_key(call: Call, args: Args) -> Result:
    """CreateKey; a ``Policy`` becomes the key's policy (checked first, so a bad one creates
    no key)."""
    policy = args["Policy"]
    if policy:
        validate_key_policy(policy)
    record = call.services.keys.create(
        call.scope,
        _creator(call),
        NewKey(
            spec=args["KeySpec"] or "Aliyun_AES_256",
            usage=args["KeyUsage"],
            origin=args["Origin"] or "Aliyun_KMS",
            protection_level=args["ProtectionLevel"] or "SOFTWARE",
            description=args["Description"] or "",
            rotation_enabled=bool(args["EnableAutomaticRotation"]),
            rotation_interval=_interval(args),
            dkms_instance_id=args["DKMSInstanceId"] or "",
            tags=args["Tags"] or (),
        ),
    )
    if policy:
        call.services.key_policies.set(record.id, policy)
    return {"KeyMetadata": key_metadata(call.scope, record)}


def describe_key(call: Call, args: Args) -> Result:
    """DescribeKey."""
    return {
        "KeyMetadata": key_metadata(
            call.scope, call.services.keys.resolve(call.scope, args["KeyId"])
        )
    }


def _matches(
    record: KeyRecord,
    filters: dict[str, list[str]],
    aliases: dict[str, list[str]],
    tags: dict[str, dict[str, str]],
) -> bool:
    fields = {
        "KeyState": [record.state],
        "KeySpec": [record.spec],
        "KeyUsage": [record.usage],
        "ProtectionLevel": [record.protection_level],
        "CreatorType": ["User"],
        "DKMSInstanceId": [record.dkms_instance_id],
        "keyId": [record.id],
        "AliasName": aliases.get(record.id, []),
        "Creator": [record.creator],
        "TagKey": list(tags.get(record.id, {})),
        "TagValue": list(tags.get(record.id, {}).values()),
    }
    return all(any(v in fields[key] for v in wanted) for key, wanted in filters.items())


def list_keys(call: Call, args: Args) -> Result:
    """ListKeys, with every documented filter (keys AND'ed, values OR'ed)."""
    number, size, offset, limit = paging(args)
    records = call.services.keys.list_all(call.scope.account_id)
    filters: dict[str, list[str]] = args["Filters"] or {}
    if filters:
        aliases = (
            call.services.aliases.names_by_key(call.scope.account_id)
            if "AliasName" in filters
            else {}
        )
        tags = (
            tag_store.of_account(call.services.db, call.scope.account_id, "key")
            if {"TagKey", "TagValue"} & filters.keys()
            else {}
        )
        records = [r for r in records if _matches(r, filters, aliases, tags)]
        if filters.keys() - {"keyId", "AliasName"}:
            # Ids and aliases are listed account-wide; a key's state, spec, creator or tags
            # are matched only where the caller may DescribeKey it.
            may = readable(call, "kms:DescribeKey")
            records = [r for r in records if may(call.scope.key_arn(r.id))]
    chosen = records[offset : offset + limit]
    return {
        "Keys": {"Key": [{"KeyId": r.id, "KeyArn": call.scope.key_arn(r.id)} for r in chosen]},
        **page(number, size, len(records)),
    }


def enable_key(call: Call, args: Args) -> Result:
    """EnableKey."""
    call.services.keys.enable(call.scope, args["KeyId"])
    return {}


def disable_key(call: Call, args: Args) -> Result:
    """DisableKey."""
    call.services.keys.disable(call.scope, args["KeyId"])
    return {}


def schedule_key_deletion(call: Call, args: Args) -> Result:
    """ScheduleKeyDeletion."""
    call.services.keys.schedule_deletion(call.scope, args["KeyId"], args["PendingWindowInDays"])
    return {}


def cancel_key_deletion(call: Call, args: Args) -> Result:
    """CancelKeyDeletion."""
    call.services.keys.cancel_deletion(call.scope, args["KeyId"])
    return {}


def update_key_description(call: Call, args: Args) -> Result:
    """UpdateKeyDescription."""
    call.services.keys.update_description(call.scope, args["KeyId"], args["Description"])
    return {}


def _protected_key(call: Call, args: Args) -> str:
    key = args.get("KeyId") or args.get("ProtectedResourceArn")
    if not key:
        raise missing("ProtectedResourceArn")
    return str(key)


def set_deletion_protection(call: Call, args: Args) -> Result:
    """SetDeletionProtection (the key named by KeyId or ProtectedResourceArn)."""
    call.services.keys.set_deletion_protection(
        call.scope,
        _protected_key(call, args),
        args["EnableDeletionProtection"],
        args["DeletionProtectionDescription"] or "",
    )
    return {}


def _protection_resource(services: Services, scope: Scope, args: Args) -> str:
    return key_resource(
        services, scope, {"KeyId": args.get("KeyId") or args.get("ProtectedResourceArn")}
    )


def update_rotation_policy(call: Call, args: Args) -> Result:
    """UpdateRotationPolicy."""
    call.services.keys.update_rotation_policy(
        call.scope, args["KeyId"], args["EnableAutomaticRotation"], _interval(args)
    )
    return {}


def create_key_version(call: Call, args: Args) -> Result:
    """CreateKeyVersion."""
    return {"KeyVersion": key_version(call.services.keys.create_version(call.scope, args["KeyId"]))}


def describe_key_version(call: Call, args: Args) -> Result:
    """DescribeKeyVersion."""
    version = call.services.keys.describe_version(call.scope, args["KeyId"], args["KeyVersionId"])
    return {"KeyVersion": key_version(version)}


def list_key_versions(call: Call, args: Args) -> Result:
    """ListKeyVersions."""
    number, size, offset, limit = paging(args)
    versions, total = call.services.keys.list_versions(call.scope, args["KeyId"], offset, limit)
    return {
        "KeyVersions": {"KeyVersion": [key_version(v) for v in versions]},
        **page(number, size, total),
    }


ACTIONS = (
    Action(
        "CreateKey",
        (
            Str("KeySpec", max_len=64),
            Str("KeyUsage", max_len=64),
            Str("Origin", max_len=64),
            Str("ProtectionLevel", max_len=64),
            Str("Description", max_len=8192),
            Bool("EnableAutomaticRotation"),
            Str("RotationInterval", max_len=32),
            Str("DKMSInstanceId", max_len=128),
            JsonTags("Tags", max_len=8192),
            Str("Policy", max_len=32768),
        ),
        create_key,
        resources=_create_key_resources,
    ),
    Action("DescribeKey", (KEY_ID,), describe_key, key_resource, read_only=True),
    Action(
        "ListKeys",
        (PAGE_NUMBER, PAGE_SIZE, JsonFilters("Filters", max_len=8192, keys=LIST_FILTER_KEYS)),
        list_keys,
        read_only=True,
    ),
    Action("EnableKey", (KEY_ID,), enable_key, key_resource),
    Action("DisableKey", (KEY_ID,), disable_key, key_resource),
    Action(
        "ScheduleKeyDeletion",
        (KEY_ID, Int("PendingWindowInDays", required=True, low=7, high=366)),
        schedule_key_deletion,
        key_resource,
    ),
    Action("CancelKeyDeletion", (KEY_ID,), cancel_key_deletion, key_resource),
    Action(
        "UpdateKeyDescription",
        (KEY_ID, Str("Description", required=True, max_len=8192)),
        update_key_description,
        key_resource,
    ),
    Action(
        "SetDeletionProtection",
        (
            Bool("EnableDeletionProtection", required=True),
            Str("DeletionProtectionDescription", max_len=8192),
            Str("KeyId", max_len=2048),
            Str("ProtectedResourceArn", max_len=2048),
            Str("KmsInstanceId", max_len=128),
        ),
        set_deletion_protection,
        _protection_resource,
    ),
    Action(
        "UpdateRotationPolicy",
        (
            KEY_ID,
            Bool("EnableAutomaticRotation", required=True),
            Str("RotationInterval", max_len=32),
        ),
        update_rotation_policy,
        key_resource,
    ),
    Action("CreateKeyVersion", (KEY_ID,), create_key_version, key_resource),
    Action(
        "DescribeKeyVersion",
        (KEY_ID, Str("KeyVersionId", required=True, max_len=64)),
        describe_key_version,
        key_resource,
        read_only=True,
    ),
    Action(
        "ListKeyVersions",
        (KEY_ID, PAGE_NUMBER, PAGE_SIZE),
        list_key_versions,
        key_resource,
        read_only=True,
    ),
)
