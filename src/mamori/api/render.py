"""Domain values → Alibaba-shaped JSON fragments (PascalCase names, dates as strings)."""

from __future__ import annotations

from typing import Any

from mamori.core.model import KeyRecord, KeyVersion, iso
from mamori.core.refs import Scope


def key_metadata(scope: Scope, key: KeyRecord) -> dict[str, Any]:
    """The ``KeyMetadata`` object of CreateKey and DescribeKey."""
    rotation = "Enabled" if key.rotation_enabled else "Disabled"
    meta: dict[str, Any] = {
        "KeyId": key.id,
        "Arn": scope.key_arn(key.id),
        "KeySpec": key.spec,
        "KeyUsage": key.usage,
        "KeyState": key.state,
        "Origin": key.origin,
        "ProtectionLevel": key.protection_level,
        "Description": key.description,
        "Creator": key.creator,
        "CreationDate": iso(key.created_at),
        "DeleteDate": iso(key.delete_at),
        "MaterialExpireTime": iso(key.material_expire_at),
        "PrimaryKeyVersion": key.primary_version_id or "",
        "AutomaticRotation": rotation,
        "LastRotationDate": iso(key.last_rotation_at or key.created_at),
        "NextRotationDate": iso(key.next_rotation_at) if key.rotation_enabled else "",
        "RotationInterval": f"{key.rotation_interval}s" if key.rotation_interval else "",
        "DeletionProtection": "Enabled" if key.deletion_protection else "Disabled",
        "DeletionProtectionDescription": key.deletion_protection_description,
        "DKMSInstanceId": key.dkms_instance_id,
    }
    return meta


def key_version(version: KeyVersion) -> dict[str, Any]:
    """One ``KeyVersion`` object."""
    return {
        "KeyId": version.key_id,
        "KeyVersionId": version.id,
        "CreationDate": iso(version.created_at),
    }


def page(number: int, size: int, total: int) -> dict[str, Any]:
    """The paging fields of a list response."""
    return {"PageNumber": number, "PageSize": size, "TotalCount": total}
