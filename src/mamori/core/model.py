"""The domain's values: key records, versions, aliases, and the time format Alibaba uses."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

# The one documented name of a key or secret policy.
POLICY_NAME = "default"

ISO = "%Y-%m-%dT%H:%M:%SZ"


def iso(epoch: int | None) -> str:
    """Alibaba's UTC timestamp format, or "" for no time."""
    return "" if epoch is None else time.strftime(ISO, time.gmtime(epoch))


class KeyState:
    """The states a key moves through."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key's metadata as stored (times in epoch seconds)."""

    id: str
    account_id: str
    spec: str
    usage: str
    origin: str
    protection_level: str
    state: str
    description: str
    creator: str
    dkms_instance_id: str
    created_at: int
    delete_at: int | None
    deletion_protection: bool
    deletion_protection_description: str
    rotation_enabled: bool
    rotation_interval: int | None
    last_rotation_at: int | None
    next_rotation_at: int | None
    primary_version_id: str | None
    material_expire_at: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> KeyRecord:
        """Build from a ``keys`` table row."""
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """One version of a key (its material stays in the store, wrapped)."""

    id: str
    key_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Alias:
    """An alias and the key it names."""

    name: str
    key_id: str


# Whole, unstripped, ASCII digits: "\d" and int() also take "٣٠", and "$" a trailing newline.
_INTERVAL = re.compile(r"([0-9]{1,10})([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_interval(text: str) -> int | None:
    """``7d`` / ``168h`` / ``604800s`` → seconds; None when malformed."""
    match = _INTERVAL.fullmatch(text)
    if not match:
        return None
    return int(match.group(1)) * _UNIT[match.group(2)]
