"""Root key in a local file: 32 random bytes, created 0600 on first start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mamori.crypto.material import KeyMaterial

ROOT_KEY_BYTES = 32


class RootKeyFileError(RuntimeError):
    """The root key file exists but cannot be trusted or read."""


class KeyFileProvider:
    """Reads the root key from ``path``; creates it when absent."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def open(self) -> KeyMaterial:
        """Load (or create) the root key, refusing a file others can read."""
        if not self._path.exists():
            self._create()
        mode = stat.S_IMODE(self._path.stat().st_mode)
        if mode & 0o077:
            raise RootKeyFileError(
                f"{self._path} is readable by group or others (mode {mode:o}); chmod 600 it"
            )
        raw = self._path.read_bytes()
        if len(raw) != ROOT_KEY_BYTES:
            raise RootKeyFileError(f"{self._path} does not hold a {ROOT_KEY_BYTES}-byte key")
        return KeyMaterial(raw)

    def _create(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        # O_EXCL + 0600 at creation: the key is never world-readable, not even for an instant.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(ROOT_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
