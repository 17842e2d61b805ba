"""Managed data keys: GetManagedDataKey and ListManagedDataKeyVersions (Alibaba's), and
CreateManagedDataKey and RotateManagedDataKey (Mamori's extensions: Alibaba's API has no action
that makes one). Each authorizes the data key's ARN and, for what reads or writes a version,
the KMS key it is sealed under (``kms:Decrypt`` to read, ``kms:GenerateDataKey`` to make)."""

from __future__ import annotations

import base64
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
from mamori.api.params import Bool, Int, Str
from mamori.api.render import page
from mamori.core.refs import Scope

DATA_KEY_NAME = Str("DataKeyName", required=True, max_len=128)


def _data_key(scope: Scope, args: Args) -> Touch:
    name = str(args.get("DataKeyName") or "")
    return Touch(scope.data_key_arn(name), f"DataKeyName {name}")


def _reading(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    yield _data_key(scope, args)
    key_id = services.managed_data_keys.key_of(scope, str(args.get("DataKeyName") or ""))
    if key_id is not None:
        yield Touch(scope.key_arn(key_id), "the data key's KMS key", "kms:Decrypt")


def _making(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    yield _data_key(scope, args)
    if args.get("KeyId"):
        yield Touch(key_resource(services, scope, args), "KeyId", "kms:GenerateDataKey")
    else:
        key_id = services.managed_data_keys.key_of(scope, str(args.get("DataKeyName") or ""))
        if key_id is not None:
            yield Touch(scope.key_arn(key_id), "the data key's KMS key", "kms:GenerateDataKey")


def get_managed_data_key(call: Call, args: Args) -> Result:
    """GetManagedDataKey: the named version, else the latest (UseLatest) or the first."""
    found = call.services.managed_data_keys.get(
        call.scope, args["DataKeyName"], args["DataKeyVersionId"], bool(args["UseLatest"])
    )
    return {
        "DataKeyName": found.name,
        "DataKeyVersionId": found.version_id,
        "DataKeyVersionName": found.version_name,
        "Plaintext": base64.b64encode(found.plaintext).decode("ascii"),
    }


def list_managed_data_key_versions(call: Call, args: Args) -> Result:
    """ListManagedDataKeyVersions, oldest first."""
    number, size, offset, limit = paging(args)
    versions, total = call.services.managed_data_keys.versions(
        call.scope, args["DataKeyName"], offset, limit
    )
    return {
        "DataKeyName": args["DataKeyName"],
        "ManagedDataKeyVersions": {
            "ManagedDataKeyVersion": [
                {"DataKeyVersionId": v.version_id, "DataKeyVersionName": v.version_name}
                for v in versions
            ]
        },
        **page(number, size, total),
    }


def create_managed_data_key(call: Call, args: Args) -> Result:
    """CreateManagedDataKey (extension): the data key and its first version."""
    size = 32 if args["NumberOfBytes"] is None else args["NumberOfBytes"]
    made = call.services.managed_data_keys.create(
        call.scope, args["DataKeyName"], args["KeyId"], size
    )
    return {"DataKeyName": made.name, "DataKeyVersionId": made.version_id}


def rotate_managed_data_key(call: Call, args: Args) -> Result:
    """RotateManagedDataKey (extension): a new latest version."""
    made = call.services.managed_data_keys.rotate(call.scope, args["DataKeyName"])
    return {"DataKeyName": made.name, "DataKeyVersionId": made.version_id}


ACTIONS = (
    Action(
        "GetManagedDataKey",
        (DATA_KEY_NAME, Str("DataKeyVersionId", max_len=16), Bool("UseLatest")),
        get_managed_data_key,
        resources=_reading,
        business=True,
        read_only=True,
    ),
    Action(
        "ListManagedDataKeyVersions",
        (DATA_KEY_NAME, PAGE_NUMBER, PAGE_SIZE),
        list_managed_data_key_versions,
        resources=lambda _s, scope, args: iter((_data_key(scope, args),)),
        read_only=True,
    ),
    Action(
        "CreateManagedDataKey",
        (DATA_KEY_NAME, KEY_ID, Int("NumberOfBytes", low=1, high=1024)),
        create_managed_data_key,
        resources=_making,
        extension=True,
    ),
    Action(
        "RotateManagedDataKey",
        (DATA_KEY_NAME,),
        rotate_managed_data_key,
        resources=_making,
        extension=True,
    ),
)
