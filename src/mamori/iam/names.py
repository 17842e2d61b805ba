"""RAM entity names and ids: the rules user and group names follow, and numeric ids."""

from __future__ import annotations

import re
import secrets

from mamori.core.errors import InvalidInput
from mamori.iam.principal import ADMIN

NAME_MAX = 64
IDENTITY_NAME = r"[A-Za-z0-9._-]{1,64}"
"""User and group names (the SDK's rule): 1–64 letters, digits, ``.``, ``_`` and ``-``."""
_IDENTITY_NAME = re.compile(IDENTITY_NAME)


def new_numeric_id(digits: int = 16) -> str:
    """An Alibaba-style numeric id (users, groups, roles)."""
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def check_identity_name(param: str, name: str) -> None:
    """Group names, and the shape of user names."""
    if not _IDENTITY_NAME.fullmatch(name):
        raise InvalidInput(param, "It may contain only letters, digits, '.', '_' and '-'.")


def check_user_name(param: str, name: str) -> None:
    """User names; ``root`` (any case) names the administrator's AccessKeys, never a user."""
    check_identity_name(param, name)
    if name.lower() == ADMIN:
        raise InvalidInput(param, f"The name {name!r} is reserved.")
