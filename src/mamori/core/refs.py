"""Naming a key: its id, ``alias/<name>`` or an ARN, and the ARNs Mamori hands out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a request acts: the region this server serves and the caller's account."""

    region: str
    account_id: str

    def key_arn(self, key_id: str) -> str:
        """``acs:kms:{region}:{account}:key/{id}``."""
        return f"acs:kms:{self.region}:{self.account_id}:key/{key_id}"

    def certificate_arn(self, cert_id: str) -> str:
        """``acs:kms:{region}:{account}:certificate/{id}``."""
        return f"acs:kms:{self.region}:{self.account_id}:certificate/{cert_id}"

    def data_key_arn(self, name: str) -> str:
        """``acs:kms:{region}:{account}:datakey/{name}``: a managed data key (Mamori's form;
        Alibaba documents no ARN for one)."""
        return f"acs:kms:{self.region}:{self.account_id}:datakey/{name}"

    def alias_arn(self, alias_name: str) -> str:
        """``acs:kms:{region}:{account}:alias/{name without the prefix}``."""
        return f"acs:kms:{self.region}:{self.account_id}:{alias_name}"


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A parsed KeyId parameter: exactly one of ``key_id`` or ``alias`` is set."""

    key_id: str | None = None
    alias: str | None = None


def parse_key_ref(scope: Scope, text: str) -> KeyRef | None:
    """Parse a KeyId parameter; None when it names another region or account, or nothing."""
    text = text.strip()
    if text.startswith("acs:"):
        parts = text.split(":", 4)
        if len(parts) != 5 or parts[1] != "kms":
            return None
        if parts[2] != scope.region or parts[3] != scope.account_id:
            return None
        resource = parts[4]
        if resource.startswith("key/") and len(resource) > 4:
            return KeyRef(key_id=resource[4:])
        if resource.startswith("alias/") and len(resource) > 6:
            return KeyRef(alias=resource)
        return None
    if text.startswith("alias/"):
        return KeyRef(alias=text) if len(text) > 6 else None
    return KeyRef(key_id=text) if text else None
