"""``mamori``: start the server, and manage keys, secrets and identities of one (docs/cli.md).

The server's own commands (``server``, ``operator``, ``reference errors|actions``) import server
code when they run; every other command is a client of the API and imports none (a test runs
them with ``-X importtime`` to prove it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli import aliases, backup, crypto, keys, secrets
from mamori.cli.aap import app as aap_app
from mamori.cli.agent import agent as agent_command
from mamori.cli.audit import app as audit_app
from mamori.cli.connection import Target
from mamori.cli.iam import app as iam_app
from mamori.cli.instances import app as instances_app
from mamori.cli.remote import session

app = typer.Typer(
    help="Mamori: a self-hosted KMS that speaks the Alibaba Cloud KMS API.",
    no_args_is_help=True,
)


@app.callback()
def main(
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Profile of the credentials file [ALIBABA_CLOUD_PROFILE]"),
    ] = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(
            "--credentials-file",
            help="Alibaba's credentials file, mode 0600 [ALIBABA_CLOUD_CREDENTIALS_FILE; "
            "~/.alibabacloud/credentials]",
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="The server's HOST:PORT [MAMORI_ENDPOINT; 127.0.0.1:8443]"),
    ] = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="http or https [MAMORI_PROTOCOL; https]")
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="CA certificate to trust [MAMORI_CA_FILE; system roots]"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Act as the administrator of the server whose data dir this is"
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="…of the server this mamori.toml configures")
    ] = None,
    client_key_file: Annotated[
        Path | None,
        typer.Option(
            "--client-key-file",
            help="Speak the dedicated gateway with this client key (ClientKeyContent JSON) "
            "[MAMORI_CLIENT_KEY_FILE]",
        ),
    ] = None,
    client_key_password_file: Annotated[
        Path | None,
        typer.Option(
            "--client-key-password-file",
            help="File holding the client key's password [MAMORI_CLIENT_KEY_PASSWORD, "
            "MAMORI_CLIENT_KEY_PASSWORD_FILE]",
        ),
    ] = None,
) -> None:
    """Mamori: a self-hosted KMS that speaks the Alibaba Cloud KMS API.

    Example: mamori --profile prod --ca-file ca.pem keys list
    """
    session.reset(
        Target(
            profile=profile,
            credentials_file=credentials_file,
            endpoint=endpoint,
            protocol=protocol,
            ca_file=ca_file,
            data_dir=data_dir,
            config=config,
            client_key_file=client_key_file,
            client_key_password_file=client_key_password_file,
        )
    )


app.add_typer(keys.app, name="keys")
app.add_typer(aliases.app, name="aliases")
app.add_typer(secrets.app, name="secrets")
app.command("encrypt")(crypto.encrypt)
app.command("decrypt")(crypto.decrypt)
app.command("data-key")(crypto.data_key)
app.add_typer(instances_app, name="instances")
app.add_typer(aap_app, name="aap")
app.add_typer(iam_app, name="iam")
app.command("agent")(agent_command)
app.add_typer(audit_app, name="audit")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)

reference = typer.Typer(help="Print reference documentation generated from the code.")
app.add_typer(reference, name="reference")


@reference.command("errors")
def reference_errors() -> None:
    """Every error code, its HTTP status and message, as Markdown."""
    from mamori.api.reference import errors_markdown

    typer.echo(errors_markdown(), nl=False)


@reference.command("actions")
def reference_actions() -> None:
    """Every action the server answers, with its parameters, as Markdown."""
    from mamori.api.reference import actions_markdown

    typer.echo(actions_markdown(), nl=False)


@reference.command("cli")
def reference_cli() -> None:
    """Every command of mamori with its options, as Markdown (docs/cli.md)."""
    from mamori.cli.docs import cli_markdown

    typer.echo(cli_markdown(app), nl=False)


operator = typer.Typer(help="Operator procedures on a server's data (root of trust).")
app.add_typer(operator, name="operator")


@operator.command("rotate-root")
def rotate_root(
    config: Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where data lives")] = None,
    store_url: Annotated[
        str | None, typer.Option("--store-url", help="sqlite:///… or postgresql://…")
    ] = None,
) -> None:
    """Replace the root key file with a new random key that seals the keyring; the old root key
    then opens nothing in the store. Safe while servers run (docs/root-key.md)."""
    from mamori.app import RootRotationRefused
    from mamori.app import rotate_root as rotate
    from mamori.config import ConfigError, load_settings
    from mamori.crypto.aead import DecryptionFailed
    from mamori.seal.keyfile import RootKeyFileError

    try:
        settings = load_settings(config, {"data_dir": data_dir, "store_url": store_url})
    except ConfigError as exc:
        typer.echo(f"mamori: {exc}", err=True)
        raise typer.Exit(2) from exc
    os.umask(0o077)
    try:
        done = rotate(settings)
    except RootRotationRefused as exc:
        typer.echo(f"mamori: rotate-root: {exc}", err=True)
        raise typer.Exit(2) from None
    except (RootKeyFileError, DecryptionFailed) as exc:
        typer.echo(f"mamori: rotate-root: {exc}; nothing was changed", err=True)
        raise typer.Exit(3) from None
    if done.finished_interrupted:
        typer.echo("Finished an interrupted rotation first (its root.key.new was in use).")
    typer.echo(
        f"Rotated the root key: {settings.root_key_path} is new and seals the keyring's "
        f"{done.versions} data-encryption key(s); the old root key opens nothing in this store."
    )
    if not done.erased:
        typer.echo(
            "mamori: rotate-root: a running server kept SQLite's WAL from being checkpointed "
            "for 10 s, so the old root key still opens the copy of the keyring in "
            "mamori.db-wal until the next checkpoint; stop the servers and rotate again",
            err=True,
        )
        raise typer.Exit(4)


@app.command()
def server(
    config: Annotated[Path | None, typer.Option("--config", help="mamori.toml to read")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where data lives")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option("--port", help="HTTP port")] = None,
    tls_port: Annotated[int | None, typer.Option("--tls-port", help="HTTPS port (0: off)")] = None,
    store_url: Annotated[
        str | None, typer.Option("--store-url", help="sqlite:///… or postgresql://…")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region served")] = None,
    account_id: Annotated[str | None, typer.Option("--account-id", help="Account id")] = None,
    host_name: Annotated[
        list[str] | None, typer.Option("--host-name", help="Extra TLS host name")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (0: one per core)")
    ] = None,
) -> None:
    """Start the shared gateway (HTTP and HTTPS) on the configured store. A failure to start
    is one line naming the setting and the cause, with the exit code of docs/operations.md."""
    from mamori.app import run_node
    from mamori.config import load_settings
    from mamori.startup import explain

    try:
        settings = load_settings(
            config,
            {
                "data_dir": data_dir,
                "host": host,
                "port": port,
                "tls_port": tls_port,
                "store_url": store_url,
                "region": region,
                "account_id": account_id,
                "host_names": tuple(host_name) if host_name else None,
                "workers": workers,
            },
        )
        # Everything the server writes (database, WAL, keys, credentials) is for its owner.
        os.umask(0o077)
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # Alembic's notes on every start ("Context impl SQLiteImpl") tell an operator nothing,
        # and would stand between a failed start and its one-line reason.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        status = run_node(settings)
    except Exception as exc:
        failure = explain(exc)
        if failure is None:
            raise
        typer.echo(f"mamori: cannot start: {failure}", err=True)
        raise typer.Exit(failure.exit_code) from None
    if status:
        raise typer.Exit(status)
