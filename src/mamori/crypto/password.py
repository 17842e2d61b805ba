"""Random passwords for GetRandomPassword, drawn from the OS CSPRNG (``secrets``) only."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Final

LOWERCASE: Final = string.ascii_lowercase
UPPERCASE: Final = string.ascii_uppercase
DIGITS: Final = string.digits
# Alibaba Cloud's punctuation set, which is exactly ASCII punctuation.
PUNCTUATION: Final = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128
DEFAULT_LENGTH: Final = 32


class PasswordError(ValueError):
    """The options cannot produce a password; ``param`` names the option at fault."""

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(detail)
        self.param = param
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Which characters a password may use, and whether each class must appear."""

    length: int = DEFAULT_LENGTH
    exclude_lowercase: bool = False
    exclude_uppercase: bool = False
    exclude_numbers: bool = False
    exclude_punctuation: bool = False
    exclude_characters: str = ""
    require_each_included_type: bool = True

    def classes(self) -> list[str]:
        """The non-empty character classes left after every exclusion."""
        chosen = [
            chars
            for chars, excluded in (
                (LOWERCASE, self.exclude_lowercase),
                (UPPERCASE, self.exclude_uppercase),
                (DIGITS, self.exclude_numbers),
                (PUNCTUATION, self.exclude_punctuation),
            )
            if not excluded
        ]
        banned = set(self.exclude_characters)
        remaining = ("".join(c for c in chars if c not in banned) for chars in chosen)
        return [chars for chars in remaining if chars]


def generate(policy: PasswordPolicy) -> str:
    """A password satisfying ``policy``; raises ``PasswordError`` when none can."""
    if not MIN_LENGTH <= policy.length <= MAX_LENGTH:
        raise PasswordError("PasswordLength", f"It must be between {MIN_LENGTH} and {MAX_LENGTH}.")
    classes = policy.classes()
    if not classes:
        raise PasswordError("ExcludeCharacters", "No characters are left to choose from.")
    if policy.require_each_included_type and len(classes) > policy.length:
        raise PasswordError(
            "PasswordLength", "It is too short to include one character of each type."
        )
    alphabet = "".join(classes)
    chars = [secrets.choice(c) for c in classes] if policy.require_each_included_type else []
    chars += [secrets.choice(alphabet) for _ in range(policy.length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
