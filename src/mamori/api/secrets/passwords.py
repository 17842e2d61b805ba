"""GetRandomPassword (spec/kms-api.md §7.6)."""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.errors import invalid
from mamori.api.params import Bool, Int, Str
from mamori.crypto.password import (
    DEFAULT_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordError,
    PasswordPolicy,
    generate,
)


def _flag(args: Args, name: str, default: bool) -> bool:
    value = args.get(name)
    return default if value is None else bool(value)


def get_random_password(_call: Call, args: Args) -> Result:
    """GetRandomPassword: a fresh password from the CSPRNG."""
    policy = PasswordPolicy(
        length=args.get("PasswordLength") or DEFAULT_LENGTH,
        exclude_lowercase=_flag(args, "ExcludeLowercase", False),
        exclude_uppercase=_flag(args, "ExcludeUppercase", False),
        exclude_numbers=_flag(args, "ExcludeNumbers", False),
        exclude_punctuation=_flag(args, "ExcludePunctuation", False),
        exclude_characters=args.get("ExcludeCharacters") or "",
        require_each_included_type=_flag(args, "RequireEachIncludedType", True),
    )
    try:
        return {"RandomPassword": generate(policy)}
    except PasswordError as exc:
        raise invalid(exc.param, exc.detail) from None


ACTIONS = (
    Action(
        "GetRandomPassword",
        (
            Int("PasswordLength", low=MIN_LENGTH, high=MAX_LENGTH),
            Bool("ExcludeLowercase"),
            Bool("ExcludeUppercase"),
            Bool("ExcludeNumbers"),
            Bool("ExcludePunctuation"),
            Str("ExcludeCharacters"),
            Bool("RequireEachIncludedType"),
        ),
        get_random_password,
        read_only=True,
    ),
)
