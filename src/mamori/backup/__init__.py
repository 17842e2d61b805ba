"""``mamori backup`` and ``mamori restore``: an online snapshot of the store plus the TLS files,
and its restore into an empty data dir. The root key is never in a backup (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mamori import __version__
from mamori.audit.chain import NotPlain, chains, read_segment, segments
from mamori.backup import archive
from mamori.backup.archive import ArchiveError, Manifest
from mamori.backup.snapshot import (
    SnapshotError,
    pg_dump,
    pg_is_empty,
    pg_restore,
    sqlite_path,
    sqlite_snapshot,
    store_facts,
)
from mamori.config import Settings
from mamori.crypto.aead import DecryptionFailed
from mamori.crypto.material import KeyMaterial
from mamori.seal.keyfile import KeyFileProvider, RootKeyFileError
from mamori.seal.keyring import Keyring

__all__ = ["ArchiveError", "BackupRefused", "Manifest", "SnapshotError", "backup", "restore"]


class BackupRefused(RuntimeError):
    """The backup or restore cannot be done as asked (a non-empty target, a wrong root key)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def backup(settings: Settings, output: Path) -> Manifest:
    """Snapshot the store and the TLS files into ``output`` (never the root key)."""
    if output.exists():
        raise BackupRefused(f"{output} already exists")
    url = settings.database_url
    db_file = sqlite_path(url)
    with tempfile.TemporaryDirectory(prefix=".mamori-backup-", dir=output.parent) as work:
        members: dict[str, Path] = {}
        if db_file is not None:
            snapshot = Path(work) / archive.SQLITE_MEMBER
            sqlite_snapshot(db_file, snapshot)
            # Facts from the copy, not the live store: they describe exactly what was saved.
            revision, rows = store_facts(f"sqlite:///{snapshot}")
            members[archive.SQLITE_MEMBER] = snapshot
        else:
            dump = Path(work) / archive.PG_MEMBER
            pg_dump(url, dump)
            revision, rows = store_facts(url)
            members[archive.PG_MEMBER] = dump
        if settings.tls_dir.is_dir():
            for file in sorted(settings.tls_dir.iterdir()):
                if file.is_file():
                    members[f"tls/{file.name}"] = file
        members.update(_audit_segments(settings.audit_dir, Path(work)))
        manifest = Manifest(
            store="sqlite" if db_file is not None else "postgresql",
            schema_revision=revision,
            keyring_versions=[version for version, _ in rows],
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            mamori_version=__version__,
        )
        return archive.write(output, manifest, members)


def _audit_segments(audit_dir: Path, work: Path) -> dict[str, Path]:
    """A copy of every audit segment up to its last whole record (a running server may be in
    the middle of appending one), so the restored chains verify as they stood."""
    members: dict[str, Path] = {}
    try:
        for chain in chains(audit_dir):
            for _, segment in segments(chain):
                name = f"audit/{chain.name}/{segment.name}"
                copy = work / name
                copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                data = read_segment(segment)
                copy.write_bytes(data[: data.rfind(b"\n") + 1])
                members[name] = copy
    except NotPlain as exc:
        # A link would put whatever it points at into the archive, a FIFO would hang the
        # backup: refused, naming it, rather than left out of the backup unsaid.
        raise BackupRefused(f"the audit log cannot be saved: {exc}", exit_code=8) from None
    return members


@dataclass(frozen=True)
class Restored:
    """What ``restore`` did."""

    manifest: Manifest
    root_key_checked: bool  # a root key was given and opens the restored keyring


def restore(source: Path, settings: Settings, root_key_file: Path | None) -> Restored:
    """Restore a backup into an empty data dir (and, for PostgreSQL, an empty database named
    by ``store_url``); with ``root_key_file``, check that it opens the keyring and put a copy
    in place as ``root.key``."""
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupRefused(f"{data_dir} is not empty: restore only into a new data dir")
    root = _read_root_key(root_key_file) if root_key_file is not None else None
    parent = data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mamori-restore-", dir=parent) as work:
        staged = Path(work) / "data"
        staged.mkdir(mode=0o700)
        manifest = archive.read(source, staged)
        url = _target_url(manifest, settings, staged)
        if manifest.store == "postgresql":
            if not pg_is_empty(url):
                raise BackupRefused("the database store_url names is not empty")
            pg_restore(url, staged / archive.PG_MEMBER)
            (staged / archive.PG_MEMBER).unlink()
        if root is not None:
            _, rows = store_facts(url)
            try:
                Keyring(root, rows)
            except DecryptionFailed:
                raise BackupRefused(
                    f"{root_key_file} does not open the keyring of this backup "
                    "(the root key of another store, or of before a rotate-root?)",
                    exit_code=3,
                ) from None
            assert root_key_file is not None
            _write_0600(staged / "root.key", root_key_file)
        if data_dir.exists():
            for entry in staged.iterdir():
                entry.rename(data_dir / entry.name)
        else:
            staged.rename(data_dir)
        os.chmod(data_dir, 0o700)
    return Restored(manifest, root is not None)


def _target_url(manifest: Manifest, settings: Settings, staged: Path) -> str:
    """Where the store goes: a SQLite snapshot into the data dir, a dump into ``store_url``."""
    if manifest.store == "sqlite":
        if settings.store_url and sqlite_path(settings.store_url) is None:
            raise BackupRefused("this backup is of a SQLite store; store_url names PostgreSQL")
        if settings.store_url and sqlite_path(settings.store_url) != (
            settings.data_dir / archive.SQLITE_MEMBER
        ):
            raise BackupRefused(
                "restore a SQLite backup into the default store (<data_dir>/mamori.db)"
            )
        return f"sqlite:///{staged / archive.SQLITE_MEMBER}"
    if not settings.store_url or sqlite_path(settings.store_url) is not None:
        raise BackupRefused(
            "this backup is of a PostgreSQL store: name an empty database with --store-url"
        )
    return settings.store_url


def _read_root_key(path: Path) -> KeyMaterial:
    try:
        return KeyFileProvider(path, may_create=False).open()
    except RootKeyFileError as exc:
        raise BackupRefused(str(exc), exit_code=3) from None


def _write_0600(dest: Path, source: Path) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
        shutil.copyfileobj(handle, out)
        out.flush()
        os.fsync(out.fileno())
