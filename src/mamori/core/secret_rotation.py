"""Rotation of Generic secrets: the interval bounds and the password policy a secret's
ExtendedConfig asks for.

ExtendedConfig keys honoured (all optional, values as strings or JSON scalars):
``PasswordLength`` (8–128, default 32), ``ExcludeCharacters``, ``ExcludeLowercase``,
``ExcludeUppercase``, ``ExcludeNumbers``, ``ExcludePunctuation`` and
``RequireEachIncludedType`` (default true) — the options of GetRandomPassword.
"""

from __future__ import annotations

import json
from typing import Any

from mamori.core.errors import InvalidInput
from mamori.crypto.password import DEFAULT_LENGTH, PasswordError, PasswordPolicy, generate

HOUR = 3600
ROTATION_MIN = 6 * HOUR
ROTATION_MAX = 8760 * HOUR
ROTATION_DEFAULT = 7 * 24 * HOUR


def check_interval(seconds: int) -> None:
    """Secrets rotate every 6 hours to 8760 hours (365 days), as on Alibaba Cloud."""
    if not ROTATION_MIN <= seconds <= ROTATION_MAX:
        raise InvalidInput("RotationInterval", "It must be between 6 hours and 8760 hours.")


def _flag(config: dict[str, Any], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise InvalidInput("ExtendedConfig", f"{key} must be true or false.")
    return text == "true"


def password_policy(extended_config: str | None) -> PasswordPolicy:
    """The GetRandomPassword options in a secret's ExtendedConfig."""
    try:
        config = json.loads(extended_config) if extended_config else {}
    except ValueError:
        config = {}
    if not isinstance(config, dict):
        config = {}
    length_text = config.get("PasswordLength", DEFAULT_LENGTH)
    try:
        length = int(str(length_text))
    except ValueError:
        raise InvalidInput("ExtendedConfig", "PasswordLength must be a number.") from None
    return PasswordPolicy(
        length=length,
        exclude_lowercase=_flag(config, "ExcludeLowercase", False),
        exclude_uppercase=_flag(config, "ExcludeUppercase", False),
        exclude_numbers=_flag(config, "ExcludeNumbers", False),
        exclude_punctuation=_flag(config, "ExcludePunctuation", False),
        exclude_characters=str(config.get("ExcludeCharacters", "")),
        require_each_included_type=_flag(config, "RequireEachIncludedType", True),
    )


def new_password(extended_config: str | None) -> bytes:
    """A fresh value for a rotation, per the secret's ExtendedConfig."""
    try:
        return generate(password_policy(extended_config)).encode("utf-8")
    except PasswordError as exc:
        raise InvalidInput("ExtendedConfig", f"{exc.param}: {exc.detail}") from None
