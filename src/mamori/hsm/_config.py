"""Where the PKCS#11 module is and how to log in to the token."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

# Debian/Ubuntu install SoftHSM2 in both places (the first is a symlink on most releases);
# the multiarch glob covers other architectures, the rest cover Fedora, Alpine and Homebrew.
_SEARCH = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/*-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True, slots=True)
class HsmConfig:
    """The module to load, the token to open, and the user PIN (kept out of ``repr``)."""

    module: Path
    token_label: str
    pin: str = field(repr=False)


def find_module() -> Path | None:
    """The SoftHSM2 module on this machine, if one is installed where packages put it."""
    for pattern in _SEARCH:
        for candidate in sorted(glob.glob(pattern)):
            if Path(candidate).is_file():
                return Path(candidate)
    return None
