"""Root key in a local file: 32 random bytes, created 0600 on first start.

Rotating the root key (``mamori operator rotate-root``) writes the new key beside the old one as
``root.key.new`` *before* the store commits the keyring rewrapped under it, and renames it over
``root.key`` only after the commit. A crash in between leaves both files: ``root.key`` opens the
keyring before the commit, ``root.key.new`` after it, so start-up tries both (``candidates``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mamori.crypto.material import KeyMaterial

ROOT_KEY_BYTES = 32


class RootKeyFileError(RuntimeError):
    """The root key file is missing, or exists but cannot be trusted or read."""


class KeyFileProvider:
    """Reads the root key from ``path``; creates it only for a brand-new keyring."""

    def __init__(self, path: Path, *, may_create: bool = True) -> None:
        self._path = path
        self._may_create = may_create

    @property
    def path(self) -> Path:
        """The root key file."""
        return self._path

    @property
    def pending_path(self) -> Path:
        """Where a rotation puts the new root key until the store has committed to it."""
        return self._path.with_name(self._path.name + ".new")

    def open(self) -> KeyMaterial:
        """Load (or, for a new keyring, create) the root key, refusing a file others can read."""
        if not self._path.exists():
            if not self._may_create:
                # A new key now would seal nothing the store holds: say what is wrong instead.
                raise RootKeyFileError(
                    f"root key missing: {self._path} does not exist, but the store already "
                    "holds a keyring sealed by it (restore the file from your backup)"
                )
            self._create()
        return _read(self._path)

    def candidates(self) -> list[KeyMaterial]:
        """The keys that may open the keyring: ``root.key``, then ``root.key.new`` when a
        rotation stopped between its commit and its rename."""
        keys = [self.open()]
        if self.pending_path.exists():
            keys.append(_read(self.pending_path))
        return keys

    def open_pending(self) -> KeyMaterial | None:
        """The pending key of an interrupted rotation, if there is one."""
        return _read(self.pending_path) if self.pending_path.exists() else None

    def write_pending(self) -> KeyMaterial:
        """A new random root key at ``pending_path``, durable before the store commits to it."""
        raw = os.urandom(ROOT_KEY_BYTES)
        _write_new(self.pending_path, raw)
        return KeyMaterial(raw)

    def promote_pending(self) -> None:
        """Make the pending key the root key (atomic rename, then the directory synced)."""
        os.replace(self.pending_path, self._path)
        _sync_dir(self._path.parent)

    def discard_pending(self) -> None:
        """Remove a pending key the store never committed to."""
        self.pending_path.unlink(missing_ok=True)
        _sync_dir(self._path.parent)

    def _create(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        _write_new(tmp, os.urandom(ROOT_KEY_BYTES))
        os.replace(tmp, self._path)
        _sync_dir(self._path.parent)


def _read(path: Path) -> KeyMaterial:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise RootKeyFileError(
            f"{path} is readable by group or others (mode {mode:o}); chmod 600 it"
        )
    raw = path.read_bytes()
    if len(raw) != ROOT_KEY_BYTES:
        raise RootKeyFileError(f"{path} does not hold a {ROOT_KEY_BYTES}-byte key")
    return KeyMaterial(raw)


def _write_new(path: Path, raw: bytes) -> None:
    # O_EXCL + 0600 at creation: the key is never world-readable, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    """Make a file's creation or rename in ``directory`` survive a power loss."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
