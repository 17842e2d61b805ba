"""The backup archive: a gzipped tar holding a manifest, one store snapshot and the TLS files.

Layout (every member a regular file, no directories, no links)::

    MANIFEST.json      format, versions, store kind, schema revision, and the SHA-256 of every
                       other member; "root_key_included" is always false
    mamori.db          SQLite: a consistent snapshot made with SQLite's online backup API
    mamori.pgdump      PostgreSQL: ``pg_dump --format=custom`` of the store
    tls/<name>         Mamori's CA and server certificate and their keys, as in <data-dir>/tls
    audit/<chain>/<n>.jsonl
                       every audit segment, each cut at its last whole record (docs/audit.md)

Reading checks every member against the manifest and refuses anything it does not list, so a
damaged or doctored archive is refused before a byte of it is restored.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

FORMAT = "mamori-backup"
FORMAT_VERSION = 1
MANIFEST = "MANIFEST.json"
SQLITE_MEMBER = "mamori.db"
PG_MEMBER = "mamori.pgdump"
# What a member may be called: the store snapshot, a flat file under tls/, an audit segment
# (never a name starting with a dot, so never "..").
_MEMBER = re.compile(
    r"(mamori\.db|mamori\.pgdump|tls/[A-Za-z0-9._-]{1,64}"
    r"|audit/[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}/[0-9]{8}\.jsonl)"
)


class ArchiveError(ValueError):
    """The file is not a Mamori backup, or it is damaged."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and where it came from."""

    store: str  # "sqlite" or "postgresql"
    schema_revision: str
    keyring_versions: list[int]
    created_at: str
    mamori_version: str
    files: dict[str, str] = field(default_factory=dict)  # member name -> SHA-256 hex
    # Never true: stated in the file so nobody has to wonder.
    root_key_included: bool = False
    format: str = FORMAT
    format_version: int = FORMAT_VERSION


def write(path: Path, manifest: Manifest, members: dict[str, Path]) -> Manifest:
    """Write the archive to ``path`` (0600, created exclusively) with the manifest first;
    return the manifest as written (with its members' hashes)."""
    for name in members:
        if not _MEMBER.fullmatch(name):
            raise ValueError(f"not a backup member name: {name}")
    hashes = {name: _sha256(file) for name, file in members.items()}
    manifest = replace(manifest, files=hashes)
    body = json.dumps(asdict(manifest), indent=2).encode()
    with path.open("xb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        path.chmod(0o600)
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(body), 0o600
        tar.addfile(info, io.BytesIO(body))
        for name, file in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = file.stat().st_size, 0o600
            with file.open("rb") as handle:
                tar.addfile(info, handle)
    return manifest


def read(path: Path, into: Path) -> Manifest:
    """Unpack the archive into the empty directory ``into`` and return its manifest, after
    checking every member's name, kind and hash."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            manifest = _manifest(tar)
            seen: set[str] = set()
            for info in tar:
                if info.name == MANIFEST:
                    continue
                if not (info.isfile() and _MEMBER.fullmatch(info.name)):
                    raise ArchiveError(f"unexpected member {info.name!r}")
                if info.name not in manifest.files or info.name in seen:
                    raise ArchiveError(f"member {info.name!r} is not in the manifest")
                seen.add(info.name)
                target = into / info.name
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                source = tar.extractfile(info)
                assert source is not None  # a regular file always has one
                with target.open("xb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                if _sha256(target) != manifest.files[info.name]:
                    raise ArchiveError(f"member {info.name!r} does not match its hash")
            if seen != set(manifest.files):
                raise ArchiveError(
                    f"members missing: {', '.join(sorted(set(manifest.files) - seen))}"
                )
    except (tarfile.TarError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == str(path):
            raise ArchiveError(f"{path} does not exist") from None
        raise ArchiveError(f"{path} is not a readable backup archive ({exc})") from None
    return manifest


def _manifest(tar: tarfile.TarFile) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > 1 << 20:
        raise ArchiveError("not a Mamori backup (no MANIFEST.json first)")
    handle = tar.extractfile(first)
    assert handle is not None
    try:
        data = json.loads(handle.read())
        manifest = Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"MANIFEST.json is malformed ({exc})") from None
    if manifest.format != FORMAT or manifest.format_version != FORMAT_VERSION:
        raise ArchiveError(f"unsupported backup format {manifest.format} {manifest.format_version}")
    if manifest.store not in ("sqlite", "postgresql"):
        raise ArchiveError(f"unknown store kind {manifest.store!r}")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
