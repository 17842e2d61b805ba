"""Calling a running server as its administrator: what ``mamori iam``, ``mamori instances``
and ``mamori aap`` share. The AccessKey is the administrator's (``admin.credentials`` in the
data directory), so the running server sees every change at once; errors are printed as the
server's code and message, and exit 1."""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mamori.client import Client, MamoriError
from mamori.client._client import KMS
from mamori.config import ConfigError, load_settings

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="The server's data dir")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON")]


class Remote:
    """Which server a command group talks to (its ``--config`` / ``--data-dir``)."""

    def __init__(self) -> None:
        self.config: Path | None = None
        self.data_dir: Path | None = None

    def target(self, config: Path | None, data_dir: Path | None) -> None:
        """Remember the group's options (called from its typer callback)."""
        self.config, self.data_dir = config, data_dir

    @contextmanager
    def client(self) -> Iterator[Client]:
        """A client of the server's HTTP listener with the administrator's AccessKey."""
        try:
            settings = load_settings(self.config, {"data_dir": self.data_dir})
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

    def call(self, action: str, version: str = KMS, **params: Any) -> dict[str, Any]:
        """Call ``action``; a refusal is printed and ends the command with exit code 1."""
        with self.client() as client:
            try:
                return client.call(action, version, **params)
            except MamoriError as exc:
                console.print(f"[red]{exc.code}[/red]: {exc.message}")
                raise typer.Exit(1) from exc


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a rich table of ``columns``."""
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(str(row.get(c, "")) for c in columns))
    console.print(out)


def print_json(value: Any) -> None:
    """Print ``value`` as JSON (for ``--json``: what a script reads)."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True))
