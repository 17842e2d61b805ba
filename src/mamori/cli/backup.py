"""``mamori backup`` and ``mamori restore`` (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from mamori.config import Settings

ROOT_KEY_NOTE = (
    "The root key is NOT in this backup. Keep a copy of root.key (or the PKCS#11 token) "
    "separately: without it this backup opens nothing."
)


def backup(
    output: Annotated[
        Path | None,
        typer.Argument(help="Archive to write [mamori-backup-<UTC time>.tar.gz]"),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where data lives")] = None,
    store_url: Annotated[
        str | None, typer.Option("--store-url", help="sqlite:///… or postgresql://…")
    ] = None,
) -> None:
    """Write a consistent snapshot of a (running) server's store and TLS files; never the
    root key. Example: mamori backup --data-dir /var/lib/mamori /backups/mamori.tar.gz"""
    from mamori.backup import ArchiveError, BackupRefused, SnapshotError
    from mamori.backup import backup as run

    settings = _settings(config, data_dir, store_url)
    if output is None:
        output = Path(f"mamori-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz")
    os.umask(0o077)
    try:
        manifest = run(settings, output)
    except (BackupRefused, ArchiveError, SnapshotError) as exc:
        _fail("backup", exc)
    tls = sum(1 for name in manifest.files if name.startswith("tls/"))
    audit = sum(1 for name in manifest.files if name.startswith("audit/"))
    typer.echo(
        f"Wrote {output}: the {manifest.store} store at schema {manifest.schema_revision} "
        f"(keyring version(s) {', '.join(map(str, manifest.keyring_versions))}), {audit} "
        f"audit segment(s) and {tls} TLS file(s), private keys included: keep it as private "
        "as the data dir."
    )
    typer.echo(ROOT_KEY_NOTE)


def restore(
    archive: Annotated[Path, typer.Argument(help="A file made by mamori backup")],
    root_key_file: Annotated[
        Path | None,
        typer.Option("--root-key-file", help="The root key to check and put in place (0600)"),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="A new or empty data dir to restore into")
    ] = None,
    store_url: Annotated[
        str | None, typer.Option("--store-url", help="PostgreSQL: an empty database")
    ] = None,
) -> None:
    """Restore a backup into an empty data dir (a non-empty one is refused). Example:
    mamori restore --data-dir /var/lib/mamori --root-key-file /safe/root.key mamori.tar.gz"""
    from mamori.backup import ArchiveError, BackupRefused, SnapshotError
    from mamori.backup import restore as run

    settings = _settings(config, data_dir, store_url)
    os.umask(0o077)
    try:
        done = run(archive, settings, root_key_file)
    except (BackupRefused, ArchiveError, SnapshotError) as exc:
        _fail("restore", exc)
    manifest = done.manifest
    typer.echo(
        f"Restored the {manifest.store} store of {manifest.created_at} (schema "
        f"{manifest.schema_revision}) into {settings.data_dir}."
    )
    if done.root_key_checked:
        typer.echo(f"The root key opens its keyring and is in {settings.data_dir / 'root.key'}.")
    else:
        typer.echo(
            f"The root key was not in the backup: copy it to {settings.data_dir / 'root.key'} "
            "(mode 0600) before mamori server, which refuses to start without it."
        )


def _settings(config: Path | None, data_dir: Path | None, store_url: str | None) -> Settings:
    from mamori.config import ConfigError, load_settings

    try:
        return load_settings(config, {"data_dir": data_dir, "store_url": store_url})
    except ConfigError as exc:
        typer.echo(f"mamori: {exc}", err=True)
        raise typer.Exit(2) from None


def _fail(command: str, exc: Exception) -> NoReturn:
    from mamori.backup import BackupRefused, SnapshotError

    code = (
        exc.exit_code
        if isinstance(exc, BackupRefused)
        else 4
        if isinstance(exc, SnapshotError)
        else 2
    )
    typer.echo(f"mamori: {command}: {exc}", err=True)
    raise typer.Exit(code)
