"""What the operator commands that are clients of the API share (``mamori iam``, ``mamori
aap``): a client signing with the administrator's AccessKey from the data directory, and one
way to report a refused call."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from mamori.client import Client, MamoriError
from mamori.config import ConfigError, load_settings


@contextmanager
def admin_client(config: Path | None, data_dir: Path | None) -> Iterator[Client]:
    """A client of the local server, signing with ``admin.credentials``."""
    try:
        settings = load_settings(config, {"data_dir": data_dir})
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    ini = configparser.ConfigParser()
    if not ini.read(settings.credentials_path):
        raise typer.BadParameter(f"no credentials at {settings.credentials_path}")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    with Client(
        f"{host}:{settings.port}",
        ini["default"]["access_key_id"],
        ini["default"]["access_key_secret"],
    ) as client:
        yield client


def call_or_exit(
    console: Console,
    config: Path | None,
    data_dir: Path | None,
    action: str,
    version: str,
    **params: Any,
) -> dict[str, Any]:
    """Call ``action``; a refusal is printed as its code and message, and exits 1."""
    with admin_client(config, data_dir) as client:
        try:
            return client.call(action, version, **params)
        except MamoriError as exc:
            console.print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(1) from exc
