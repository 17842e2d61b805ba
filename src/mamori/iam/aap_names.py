"""What application access points (AAPs), their policies, network rules and client keys share:
names and their limits, the values a policy may hold, the domain errors, and the JSON text the
API shows lists in.

Alibaba documents every refusal of these actions as ``InvalidParameter``; an unknown name being
acted on is ``Forbidden.ResourceNotFound`` and a name taken is ``Rejected.ResourceExist``, the
codes its secrets use for the same cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

from mamori.core.errors import DomainError, InvalidInput
from mamori.iam.client_key_authority import KEY_USER, SECRET_USER

NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
"""Names of AAPs, policies and network rules: 1–64 letters, digits, ``_``, ``.`` and ``-``,
starting with a letter or digit (Mamori's bound; Alibaba documents none)."""
_NAME = re.compile(NAME_PATTERN)

MAX_POLICIES_PER_AAP: Final = 3  # Alibaba: "up to three permission policies"
MAX_RULES_PER_POLICY: Final = 40  # Alibaba (ROS): "up to 40" network rule names
MAX_SOURCES_PER_RULE: Final = 800  # Alibaba: up to 800 IPs and CIDR blocks
MAX_RESOURCES_PER_POLICY: Final = 100  # Mamori's bound; key/* and secret/* cover the rest
MAX_PER_ACCOUNT: Final = 1000  # AAPs, policies and network rules, each (Mamori's bound)
MAX_CLIENT_KEYS_PER_AAP: Final = 100  # Mamori's bound

TEMPLATES: Final = (KEY_USER, SECRET_USER)
AUTHENTICATION_METHOD: Final = "ClientKey"  # the only one Alibaba offers for KMS instances
NETWORK_TYPE: Final = "Private"  # the only network type Alibaba offers

# A KMS instance id (``kst-`` + 21 lower-case letters and digits, as Alibaba issues them), or
# ``shared``: the scope of the shared gateway, as Alibaba's Terraform examples write it.
SHARED_SCOPE: Final = "shared"
_INSTANCE = re.compile(r"kst-[a-z0-9]{21}")

# A policy's Resources entries: key/<key id>, alias/<alias name>, secret/<secret name>, or the
# wildcards key/* and secret/* (all keys or all secrets of the policy's instance).
_RESOURCE = re.compile(
    r"(key/(\*|key-[A-Za-z0-9\-]{1,64})|alias/[A-Za-z0-9:/_\-]{1,255}|secret/.{1,192})"
)
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@\-]{1,192}|\*")


class AapNotFound(DomainError):
    """No AAP, policy, network rule or client key of that name in this account."""

    code = "Forbidden.ResourceNotFound"


class AapNameTaken(DomainError):
    """An AAP, policy or network rule of that name exists in this account."""

    code = "Rejected.ResourceExist"


class AapLimitExceeded(DomainError):
    """A bound on how many AAPs, policies, rules or client keys an account holds."""

    code = "Rejected.LimitExceeded"

    def __init__(self, what: str) -> None:
        super().__init__(what=what)


def check_name(param: str, name: str) -> str:
    """``name`` if it is a valid AAP, policy or rule name, else ``InvalidParameter``."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            param,
            "It must be 1-64 letters, digits, '_', '.' or '-', starting with one of the first two.",
        )
    return name


def check_names(param: str, names: Sequence[str], most: int) -> tuple[str, ...]:
    """A list of names: each valid, none twice, at most ``most``."""
    if len(names) > most:
        raise InvalidInput(param, f"It names more than {most}.")
    if len(set(names)) != len(names):
        raise InvalidInput(param, "It names one twice.")
    return tuple(check_name(param, n) for n in names)


def check_permissions(permissions: Sequence[str]) -> tuple[str, ...]:
    """One or both RBAC templates, each once."""
    if not permissions:
        raise InvalidInput("Permissions", "It must name at least one permission template.")
    if len(set(permissions)) != len(permissions):
        raise InvalidInput("Permissions", "It names one template twice.")
    for permission in permissions:
        if permission not in TEMPLATES:
            raise InvalidInput("Permissions", f"It must be among {', '.join(TEMPLATES)}.")
    return tuple(permissions)


def check_resources(resources: Sequence[str]) -> tuple[str, ...]:
    """``key/*``, ``key/key-…``, ``alias/…``, ``secret/*`` or ``secret/<name>`` entries."""
    if not resources:
        raise InvalidInput("Resources", "It must name at least one key or secret.")
    if len(resources) > MAX_RESOURCES_PER_POLICY:
        raise InvalidInput("Resources", f"It names more than {MAX_RESOURCES_PER_POLICY}.")
    if len(set(resources)) != len(resources):
        raise InvalidInput("Resources", "It names one resource twice.")
    for resource in resources:
        ok = _RESOURCE.fullmatch(resource) is not None
        if ok and resource.startswith("secret/"):
            ok = _SECRET_NAME.fullmatch(resource[7:]) is not None
        if not ok:
            raise InvalidInput(
                "Resources",
                "Each entry must be key/*, key/<key id>, alias/<alias name>, "
                "secret/* or secret/<secret name>.",
            )
    return tuple(resources)


def check_instance(text: str) -> str:
    """A KMS instance id (``kst-…``) or ``shared``."""
    if text != SHARED_SCOPE and not _INSTANCE.fullmatch(text):
        raise InvalidInput(
            "KmsInstance",
            "It must be a KMS instance id (kst- and 21 lower-case letters or digits) or shared.",
        )
    return text


def json_list(values: Sequence[str]) -> str:
    """A list as the API shows it inside a string field: compact JSON."""
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def arn(region: str, account: str, kind: str, name: str) -> str:
    """``acs:kms:{region}:{account}:{kind}/{name}``: kind is ``applicationaccesspoint``,
    ``policy``, ``network`` (Alibaba's documented forms) or ``clientkey`` (Mamori's: Alibaba
    documents no ARN for a client key)."""
    return f"acs:kms:{region}:{account}:{kind}/{name}"
