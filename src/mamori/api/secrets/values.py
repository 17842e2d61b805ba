"""Secrets Manager actions for generic secrets: create, read, versions and stages, metadata,
listing, deletion and restore."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any

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
from mamori.api.dispatch import readable, require, require_touch
from mamori.api.errors import ApiError, invalid
from mamori.api.instances.views import placement_touch
from mamori.api.kms.keys import TAG_RESOURCE, key_resource
from mamori.api.params import Bool, Int, JsonFilters, JsonStrList, JsonTags, Param, Str
from mamori.api.render import page
from mamori.api.secrets.params import CustomData, JsonObjectText
from mamori.core import tags as tag_store
from mamori.core.errors import Unsupported
from mamori.core.managed_rotation import parse_config
from mamori.core.model import iso, parse_interval
from mamori.core.ram_secrets import AUTO_NAME, RAM_CREDENTIALS
from mamori.core.ram_secrets import secret_name as ram_secret_name
from mamori.core.rds_secrets import RDS
from mamori.core.refs import Scope
from mamori.core.secret_rotation import ROTATION_DEFAULT, check_interval
from mamori.core.secret_rows import SecretValue
from mamori.core.secrets import CURRENT, GENERIC, Secret, tag_id
from mamori.iam.key_policies import validate as validate_policy

# ``$Auto`` asks Mamori to name a RAMCredentials secret.
NAME_PATTERN = r"[A-Za-z0-9_/+=.@-]{1,192}|\$Auto"
VERSION_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
# Base64 of 30 KB; the byte limit itself is checked after decoding.
_DATA_CHARS = 40 * 1024
_STAGE_MAX = 64
LIST_FILTER_KEYS = (
    "SecretName",
    "Description",
    "TagKey",
    "TagValue",
    "DKMSInstanceId",
    "SecretType",
    "Creator",
)

SECRET_NAME = Str("SecretName", required=True, max_len=192)
DATA_TYPE = Str("SecretDataType", choices=("text", "binary"))
SECRET_DATA = Str("SecretData", required=True, max_len=_DATA_CHARS)


def secret_resource(_services: Services, scope: Scope, args: Args) -> str:
    """``acs:kms:{region}:{account}:secret/{name}``."""
    return f"acs:kms:{scope.region}:{scope.account_id}:secret/{args.get('SecretName') or ''}"


# A secret's values are sealed under its encryption key: reading one decrypts, writing one
# encrypts. The caller needs no Allow on that key (secret rights alone keep working, as with
# Alibaba's secret policies), but an explicit Deny of kms:Decrypt (reads) or
# kms:GenerateDataKey (writes) on it refuses the secret action, as AWS Secrets Manager does.
READS = "kms:Decrypt"
WRITES = "kms:GenerateDataKey"


def key_touch(services: Services, scope: Scope, name: str, ram_action: str) -> Touch | None:
    """The secret's encryption key, as a Deny-only resource of ``ram_action``; None when
    there is no such secret (the handler says so)."""
    key = services.secrets.key_of(scope, name)
    if key is None:
        return None
    named = f"the encryption key of SecretName {name}"
    return Touch(scope.key_arn(key), named, ram_action, deny_only=True)


def _secret_and_key(ram_action: str) -> Callable[[Services, Scope, Args], Iterator[Touch]]:
    """The resources of an action that reads (``kms:Decrypt``) or writes (``kms:GenerateDataKey``)
    a secret's value: the secret, and its encryption key."""

    def resources(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
        name: str = args["SecretName"]
        yield Touch(secret_resource(services, scope, args), f"SecretName {name}")
        key = key_touch(services, scope, name, ram_action)
        if key is not None:
            yield key

    return resources


def _create_secret_resources(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """CreateSecret: the secret, and the EncryptionKeyId it names (which the first value is
    sealed under; the account's default key when none is named). Tags need
    ``kms:TagResource`` on the secret too, as for CreateKey."""
    secret = Touch(secret_resource(services, scope, args), f"SecretName {args['SecretName']}")
    yield secret
    if args["Tags"]:
        yield Touch(secret.arn, secret.named, TAG_RESOURCE)
    yield placement_touch(services, scope, args["DKMSInstanceId"])
    key: str | None = args["EncryptionKeyId"]
    if key:
        arn = key_resource(services, scope, {"KeyId": key})
        yield Touch(arn, f"EncryptionKeyId {key}", WRITES, deny_only=True)


def _arn(scope: Scope, name: str) -> str:
    return f"acs:kms:{scope.region}:{scope.account_id}:secret/{name}"


def _data(args: Args, data_type: str) -> bytes:
    text: str = args["SecretData"]
    if data_type == "text":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("SecretData", "Binary SecretData must be base64.") from None


def _stages(value: list[str] | None) -> list[str]:
    stages = [CURRENT] if value is None else value
    for stage in stages:
        if not stage or len(stage) > _STAGE_MAX:
            raise invalid("VersionStages", f"A stage name has 1 to {_STAGE_MAX} characters.")
    return list(dict.fromkeys(stages))


def _creator(call: Call) -> str:
    principal = call.principal
    return principal.account_id if principal.is_admin else principal.name


def create_secret(call: Call, args: Args) -> Result:
    """CreateSecret: Generic, Rds or RAMCredentials, optionally with automatic rotation and a
    secret policy (validated first, stored in the same transaction)."""
    secret_type = args["SecretType"] or GENERIC
    services = call.services
    if not services.secrets.served_type(secret_type):
        raise Unsupported(f"SecretType {secret_type} is not served")
    name: str = args["SecretName"]
    if secret_type == RAM_CREDENTIALS:
        if name != AUTO_NAME:
            raise invalid("SecretName", "RAMCredentials secrets are named $Auto.")
        name = ram_secret_name(parse_config(args["ExtendedConfig"]))
        # The gateway authorized the resource secret/$Auto; the secret is this one.
        _require(call, "kms:CreateSecret", name)
    elif name.lower().startswith("acs/"):
        raise invalid("SecretName", "Names starting with acs/ are reserved.")
    if secret_type == RDS:
        _may_use_admin_secret(call, parse_config(args["ExtendedConfig"]))
    data_type = args["SecretDataType"] or "text"
    if secret_type != GENERIC and data_type != "text":
        raise invalid("SecretDataType", f"{secret_type} secrets hold text.")
    rotation = bool(args["EnableAutomaticRotation"])
    interval = _interval(args) if rotation else None
    policy = args["Policy"]
    if policy:
        validate_policy(policy)
    data = _data(args, data_type)
    now = services.secrets.now()
    secret = Secret(
        account_id=call.scope.account_id,
        name=name,
        secret_type=secret_type,
        description=args["Description"] or "",
        encryption_key_id=services.secrets.encryption_key(call.scope, args["EncryptionKeyId"]),
        secret_data_type=data_type,
        extended_config=args["ExtendedConfig"],
        creator=_creator(call),
        created_at=now,
        updated_at=now,
        planned_delete_at=None,
        rotation_enabled=rotation,
        rotation_interval=interval,
        next_rotation_at=now + interval if interval else None,
        dkms_instance_id=args["DKMSInstanceId"] or "",
    )
    placed = services.secrets.create(
        call.scope, secret, args["VersionId"], data, args["Tags"] or (), policy or None
    )
    return {
        "Arn": _arn(call.scope, name),
        "SecretName": name,
        "SecretType": secret_type,
        "VersionId": args["VersionId"],
        "AutomaticRotation": _automatic(secret),
        "RotationInterval": _seconds(secret),
        "NextRotationDate": iso(secret.next_rotation_at),
        "ExtendedConfig": secret.extended_config or "",
        "DKMSInstanceId": placed,
    }


def _may_use_admin_secret(call: Call, config: dict[str, Any]) -> None:
    """Rotation logs in with the AdminSecretName's credentials and hands the new password to
    whoever reads this secret, so the creator must be allowed to read the admin secret:
    otherwise naming it would reveal, or take over, any account it can change."""
    admin = config.get("AdminSecretName")
    if isinstance(admin, str) and admin:
        _require(call, "kms:GetSecretValue", admin)
        key = key_touch(call.services, call.scope, admin, READS)
        if key is not None:
            require_touch(call, key)


def _require(call: Call, ram_action: str, name: str) -> None:
    """The caller must be allowed ``ram_action`` on the secret ``name`` (an authorization the
    gateway could not make from the request's parameters alone)."""
    require(call, ram_action, secret_resource(call.services, call.scope, {"SecretName": name}))


def _interval(args: Args) -> int:
    """RotationInterval (``<int>[d|h|m|s]``, 6 h to 8760 h; 7 days when omitted) in seconds."""
    text = args.get("RotationInterval")
    if text is None or text == "":
        return ROTATION_DEFAULT
    seconds = parse_interval(text)
    if seconds is None:
        raise invalid("RotationInterval", "Use a number followed by d, h, m or s.")
    check_interval(seconds)
    return seconds


def _automatic(secret: Secret) -> str:
    return "Enabled" if secret.rotation_enabled else "Disabled"


def _seconds(secret: Secret) -> str:
    return f"{secret.rotation_interval}s" if secret.rotation_interval else ""


def rotation_fields(secret: Secret) -> Result:
    """AutomaticRotation, RotationInterval, NextRotationDate and LastRotationDate."""
    return {
        "AutomaticRotation": _automatic(secret),
        "RotationInterval": _seconds(secret),
        "NextRotationDate": iso(secret.next_rotation_at if secret.rotation_enabled else None),
        "LastRotationDate": iso(secret.last_rotation_at),
    }


def get_secret_value(call: Call, args: Args) -> Result:
    """GetSecretValue; binary data comes back base64, as it went in."""
    secrets = call.services.secrets
    if call.dry_run:
        secrets.key_check(call.scope, args["SecretName"])
        raise ApiError("DryRunOperationError")
    secret, value = secrets.read(
        call.scope, args["SecretName"], args["VersionId"], args["VersionStage"]
    )
    return value_result(secret, value, bool(args["FetchExtendedConfig"]))


def value_result(secret: Secret, value: SecretValue, fetch_extended_config: bool) -> Result:
    """GetSecretValue's body (also one entry of BatchGetSecretValue's SecretValues)."""
    data = (
        base64.b64encode(value.data).decode("ascii")
        if value.data_type == "binary"
        else value.data.decode("utf-8", errors="replace")
    )
    result: Result = {
        "SecretName": secret.name,
        "SecretType": secret.secret_type,
        "SecretData": data,
        "SecretDataType": value.data_type,
        "VersionId": value.version_id,
        "VersionStages": {"VersionStage": value.stages},
        "CreateTime": iso(value.created_at),
        **rotation_fields(secret),
    }
    if fetch_extended_config:
        result["ExtendedConfig"] = secret.extended_config or ""
    return result


def put_secret_value(call: Call, args: Args) -> Result:
    """PutSecretValue; by default the new version becomes ACSCurrent."""
    data_type = args["SecretDataType"] or "text"
    stages = call.services.secrets.put_value(
        call.scope,
        args["SecretName"],
        args["VersionId"],
        _data(args, data_type),
        data_type,
        _stages(args["VersionStages"]),
    )
    return {
        "SecretName": args["SecretName"],
        "VersionId": args["VersionId"],
        "VersionStages": {"VersionStage": stages},
    }


def update_secret_version_stage(call: Call, args: Args) -> Result:
    """UpdateSecretVersionStage."""
    _stages([args["VersionStage"]])
    call.services.secrets.update_stage(
        call.scope,
        args["SecretName"],
        args["VersionStage"],
        args["MoveToVersion"],
        args["RemoveFromVersion"],
    )
    return {"SecretName": args["SecretName"]}


def list_secret_version_ids(call: Call, args: Args) -> Result:
    """ListSecretVersionIds (page size 20 by default)."""
    number, size, offset, limit = paging(args, default_size=20)
    versions = call.services.secrets.versions(
        call.scope, args["SecretName"], bool(args["IncludeDeprecated"])
    )
    chosen = versions[offset : offset + limit]
    return {
        "SecretName": args["SecretName"],
        "VersionIds": {
            "VersionId": [
                {
                    "VersionId": v.version_id,
                    "CreateTime": iso(v.created_at),
                    "VersionStages": {"VersionStage": v.stages},
                }
                for v in chosen
            ]
        },
        **page(number, size, len(versions)),
    }


def _tags(pairs: dict[str, str]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in pairs.items()]}


def describe_secret(call: Call, args: Args) -> Result:
    """DescribeSecret."""
    secret = call.services.secrets.get(call.scope, args["SecretName"])
    result: Result = {
        "Arn": _arn(call.scope, secret.name),
        "SecretName": secret.name,
        "SecretType": secret.secret_type,
        "Description": secret.description,
        "EncryptionKeyId": secret.encryption_key_id,
        "CreateTime": iso(secret.created_at),
        "UpdateTime": iso(secret.updated_at),
        "PlannedDeleteTime": iso(secret.planned_delete_at),
        **rotation_fields(secret),
        "ExtendedConfig": secret.extended_config or "",
        "DKMSInstanceId": secret.dkms_instance_id,
    }
    if args["FetchTags"]:
        rid = tag_id(call.scope.account_id, secret.name)
        result["Tags"] = _tags(tag_store.of(call.services.db, "secret", [rid])[rid])
    return result


def update_secret(call: Call, args: Args) -> Result:
    """UpdateSecret: Description and/or ExtendedConfig.CustomData (which replaces the old)."""
    secrets = call.services.secrets
    extended = None
    if args["ExtendedConfig"] is not None:
        current = secrets.live(call.scope, args["SecretName"]).extended_config
        config = json.loads(current) if current else {}
        config["CustomData"] = args["ExtendedConfig"]
        extended = json.dumps(config, separators=(",", ":"), sort_keys=True)
    secrets.update(call.scope, args["SecretName"], args["Description"], extended)
    return {"SecretName": args["SecretName"]}


def _matches(secret: Secret, filters: dict[str, list[str]], tags: dict[str, str]) -> bool:
    # Names and descriptions match on a substring, the other fields exactly.
    fuzzy = {"SecretName": secret.name, "Description": secret.description}
    exact = {
        "TagKey": list(tags),
        "TagValue": list(tags.values()),
        "DKMSInstanceId": [secret.dkms_instance_id],
        "SecretType": [secret.secret_type],
        "Creator": [secret.creator],
    }
    for key, wanted in filters.items():
        if key in fuzzy:
            if not any(w in fuzzy[key] for w in wanted):
                return False
        elif not any(w in exact[key] for w in wanted):
            return False
    return True


def list_secrets(call: Call, args: Args) -> Result:
    """ListSecrets, with every documented filter (keys AND'ed, values OR'ed)."""
    number, size, offset, limit = paging(args)
    account = call.scope.account_id
    secrets = call.services.secrets.list_all(account)
    filters: dict[str, list[str]] = args["Filters"] or {}
    tags: dict[str, dict[str, str]] = {}
    if args["FetchTags"] or {"TagKey", "TagValue"} & filters.keys():
        tags = tag_store.of_account(call.services.db, account, "secret")
    # Names are listed account-wide; what a secret carries (description, tags, type, creator)
    # is matched and shown only where the caller may DescribeSecret it.
    may = readable(call, "kms:DescribeSecret")
    if filters:
        attributes = filters.keys() != {"SecretName"}
        secrets = [
            s
            for s in secrets
            if _matches(s, filters, tags.get(tag_id(account, s.name), {}))
            and (
                not attributes
                or may(secret_resource(call.services, call.scope, {"SecretName": s.name}))
            )
        ]
    rows = []
    for secret in secrets[offset : offset + limit]:
        row: Result = {
            "SecretName": secret.name,
            "SecretType": secret.secret_type,
            "CreateTime": iso(secret.created_at),
            "UpdateTime": iso(secret.updated_at),
            "PlannedDeleteTime": iso(secret.planned_delete_at),
        }
        if args["FetchTags"] and may(
            secret_resource(call.services, call.scope, {"SecretName": secret.name})
        ):
            row["Tags"] = _tags(tags.get(tag_id(account, secret.name), {}))
        rows.append(row)
    return {"SecretList": {"Secret": rows}, **page(number, size, len(secrets))}


def delete_secret(call: Call, args: Args) -> Result:
    """DeleteSecret: a recovery window (default 30 days), or at once with
    ForceDeleteWithoutRecovery."""
    planned = call.services.secrets.delete(
        call.scope,
        args["SecretName"],
        bool(args["ForceDeleteWithoutRecovery"]),
        args["RecoveryWindowInDays"] or 30,
    )
    return {"SecretName": args["SecretName"], "PlannedDeleteTime": iso(planned)}


def rotate_secret(call: Call, args: Args) -> Result:
    """RotateSecret: a new ACSCurrent version (a random password for a Generic secret, new
    credentials for a managed one); repeating a VersionId is a no-op."""
    version_id = call.services.secrets.rotate(call.scope, args["SecretName"], args["VersionId"])
    return {
        "Arn": _arn(call.scope, args["SecretName"]),
        "SecretName": args["SecretName"],
        "VersionId": version_id,
    }


def update_secret_rotation_policy(call: Call, args: Args) -> Result:
    """UpdateSecretRotationPolicy (RotationInterval 6 h to 8760 h, 7 days when omitted)."""
    enabled = bool(args["EnableAutomaticRotation"])
    interval = None
    if enabled and args["RotationInterval"]:
        interval = _interval(args)
    call.services.secrets.set_rotation(call.scope, args["SecretName"], enabled, interval)
    return {"SecretName": args["SecretName"]}


def restore_secret(call: Call, args: Args) -> Result:
    """RestoreSecret."""
    call.services.secrets.restore(call.scope, args["SecretName"])
    return {"SecretName": args["SecretName"]}


def _secret_action(
    name: str,
    params: tuple[Param, ...],
    handler: Any,
    key_use: str | None = None,
    read_only: bool = False,
) -> Action:
    """An action on one secret; ``key_use`` is what it does with the secret's key, if anything
    (``READS`` or ``WRITES``)."""
    if key_use is None:
        return Action(name, params, handler, secret_resource, read_only=read_only)
    return Action(name, params, handler, resources=_secret_and_key(key_use), read_only=read_only)


ACTIONS = (
    Action(
        "CreateSecret",
        (
            Str("SecretName", required=True, max_len=192, pattern=NAME_PATTERN),
            Str("VersionId", required=True, max_len=64, pattern=VERSION_PATTERN),
            SECRET_DATA,
            DATA_TYPE,
            Str("SecretType", max_len=32),
            Str("Description", max_len=1024),
            Str("EncryptionKeyId", max_len=2048),
            JsonTags("Tags", max_len=8192),
            JsonObjectText("ExtendedConfig"),
            Str("Policy", max_len=32768),
            Bool("EnableAutomaticRotation"),
            Str("RotationInterval", max_len=32),
            Str("DKMSInstanceId", max_len=64),
        ),
        create_secret,
        resources=_create_secret_resources,
    ),
    _secret_action(
        "GetSecretValue",
        (
            SECRET_NAME,
            Str("VersionId", max_len=64),
            Str("VersionStage", max_len=_STAGE_MAX),
            Bool("FetchExtendedConfig"),
            Str("DryRun", max_len=8),
        ),
        get_secret_value,
        READS,
        read_only=True,
    ),
    _secret_action(
        "PutSecretValue",
        (
            SECRET_NAME,
            Str("VersionId", required=True, max_len=64, pattern=VERSION_PATTERN),
            SECRET_DATA,
            DATA_TYPE,
            JsonStrList("VersionStages", max_len=1024),
        ),
        put_secret_value,
        WRITES,
    ),
    _secret_action(
        "UpdateSecretVersionStage",
        (
            SECRET_NAME,
            Str("VersionStage", required=True, max_len=_STAGE_MAX),
            Str("MoveToVersion", max_len=64),
            Str("RemoveFromVersion", max_len=64),
        ),
        update_secret_version_stage,
    ),
    _secret_action(
        "ListSecretVersionIds",
        (SECRET_NAME, Bool("IncludeDeprecated"), PAGE_NUMBER, PAGE_SIZE),
        list_secret_version_ids,
        read_only=True,
    ),
    _secret_action(
        "DescribeSecret", (SECRET_NAME, Bool("FetchTags")), describe_secret, read_only=True
    ),
    _secret_action(
        "UpdateSecret",
        (SECRET_NAME, Str("Description", max_len=1024), CustomData("ExtendedConfig")),
        update_secret,
    ),
    Action(
        "ListSecrets",
        (
            Bool("FetchTags"),
            JsonFilters("Filters", keys=LIST_FILTER_KEYS, max_len=8192),
            PAGE_NUMBER,
            PAGE_SIZE,
        ),
        list_secrets,
        read_only=True,
    ),
    _secret_action(
        "DeleteSecret",
        (
            SECRET_NAME,
            Bool("ForceDeleteWithoutRecovery"),
            Int("RecoveryWindowInDays", low=7, high=30),
        ),
        delete_secret,
    ),
    _secret_action("RestoreSecret", (SECRET_NAME,), restore_secret),
    _secret_action(
        "RotateSecret",
        (SECRET_NAME, Str("VersionId", required=True, max_len=64, pattern=VERSION_PATTERN)),
        rotate_secret,
        WRITES,
    ),
    _secret_action(
        "UpdateSecretRotationPolicy",
        (
            SECRET_NAME,
            Bool("EnableAutomaticRotation", required=True),
            Str("RotationInterval", max_len=32),
        ),
        update_secret_rotation_policy,
    ),
)
