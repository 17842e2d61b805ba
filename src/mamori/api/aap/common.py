"""What the AAP actions share: their parameter kinds, resource ARNs and paging.

ARNs (Alibaba's documented forms): ``acs:kms:{region}:{account}:applicationaccesspoint/{name}``,
``…:policy/{name}``, ``…:network/{name}``; a client key's is Mamori's, ``…:clientkey/{id}``
(Alibaba documents none). Listings authorize on the account, ``acs:kms:{region}:{account}:*``.
An action that names other resources (an AAP its policies, a policy its network rules) is
authorized on each of them too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mamori.api.catalogue import Args, Services, Touch
from mamori.api.errors import invalid
from mamori.api.params import JsonParam, Param, Str
from mamori.core.refs import Scope
from mamori.iam.aap_names import arn

DEFAULT_PAGE_SIZE = 20  # Alibaba's default for the three AAP listings
DESCRIPTION = Str("Description", max_len=1024)


def name_param(param: str = "Name") -> Str:
    """A required AAP, policy or network rule name (checked fully by ``iam``)."""
    return Str(param, required=True, max_len=64)


@dataclass(frozen=True, slots=True)
class NameList(JsonParam):
    """A JSON array of names (``Policies``): strings, at most ``most``, for authorization to
    walk before ``iam`` checks each one."""

    most: int = 3
    max_len: int = 2048

    def shape(self, value: Any) -> Any:
        """A short list of strings."""
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(self.name, "It must be a JSON array of strings.")
        if len(value) > self.most:
            raise invalid(self.name, f"It names more than {self.most}.")
        return value


@dataclass(frozen=True, slots=True)
class AccessControlRules(JsonParam):
    """``{"NetworkRules": ["<rule name>", …]}`` → the rule names (at most 40). Any other key
    is refused: it would be a rule of access silently not applied."""

    max_len: int = 4096

    def shape(self, value: Any) -> Any:
        """The rule names."""
        if not isinstance(value, dict) or set(value) - {"NetworkRules"}:
            raise invalid(self.name, 'It must be {"NetworkRules": [<rule name>, ...]}.')
        rules = value.get("NetworkRules", [])
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise invalid(self.name, "NetworkRules must be a JSON array of strings.")
        if len(rules) > 40:
            raise invalid(self.name, "It names more than 40 network rules.")
        return rules


# A JSON array of address-like strings only: no escape, NUL or surrogate can appear, so the
# array may be longer than ``load_json``'s bound (800 IPv6 blocks need ~36 KiB).
_ENTRY = r'\s*"[0-9A-Fa-f.:/]{1,64}"\s*'
_IP_ARRAY = re.compile(rf"\[(?:{_ENTRY}(?:,{_ENTRY})*)?\]")


@dataclass(frozen=True, slots=True)
class SourceIps(Param):
    """``SourcePrivateIp``: comma-separated entries (as Alibaba's docs say) or a JSON array of
    strings (as their examples write); ``iam`` checks each entry is an IP or a CIDR block. No
    entry starts with ``[``, so the two forms cannot be confused."""

    max_len: int = 40_000

    def convert(self, text: str) -> Any:
        """The entries, as strings."""
        stripped = text.strip()
        if stripped.startswith("["):
            if not _IP_ARRAY.fullmatch(stripped):
                raise invalid(self.name, "It must be a JSON array of IPs and CIDR blocks.")
            return json.loads(stripped)
        return [part.strip() for part in text.split(",")]


def aap_arn(scope: Scope, name: str) -> str:
    """``acs:kms:{region}:{account}:applicationaccesspoint/{name}``."""
    return arn(scope.region, scope.account_id, "applicationaccesspoint", name)


def policy_arn(scope: Scope, name: str) -> str:
    """``acs:kms:{region}:{account}:policy/{name}``."""
    return arn(scope.region, scope.account_id, "policy", name)


def rule_arn(scope: Scope, name: str) -> str:
    """``acs:kms:{region}:{account}:network/{name}``."""
    return arn(scope.region, scope.account_id, "network", name)


def client_key_arn(scope: Scope, key_id: str) -> str:
    """``acs:kms:{region}:{account}:clientkey/{id}``."""
    return arn(scope.region, scope.account_id, "clientkey", key_id)


def aap_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The AAP named by ``Name``."""
    return aap_arn(scope, args["Name"])


def policy_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The policy named by ``Name``."""
    return policy_arn(scope, args["Name"])


def rule_resource(_services: Services, scope: Scope, args: Args) -> str:
    """The network rule named by ``Name``."""
    return rule_arn(scope, args["Name"])


def aap_and_policies(_services: Services, scope: Scope, args: Args) -> Iterable[Touch]:
    """An AAP and every policy it is to name."""
    yield Touch(aap_arn(scope, args["Name"]), args["Name"])
    for name in args.get("Policies") or ():
        yield Touch(policy_arn(scope, name), name)


def policy_and_rules(_services: Services, scope: Scope, args: Args) -> Iterable[Touch]:
    """A policy and every network rule it is to name."""
    yield Touch(policy_arn(scope, args["Name"]), args["Name"])
    for name in args.get("AccessControlRules") or ():
        yield Touch(rule_arn(scope, name), name)


def page_args(args: Args) -> tuple[int, int]:
    """(page number, page size) with Alibaba's defaults."""
    return args.get("PageNumber") or 1, args.get("PageSize") or DEFAULT_PAGE_SIZE
