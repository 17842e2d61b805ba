"""``mamori agent``: the local KMS Agent (docs/agent.md)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
import uvloop


def agent(
    config: Annotated[
        Path | None, typer.Option("--config", help="The agent's TOML file (docs/agent.md)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port on 127.0.0.1 (HttpPort; 2025)")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="The server's HOST:PORT ([KMS] Endpoint)")
    ] = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", help="http or https ([KMS] Protocol)")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA certificate to trust ([KMS] CaFile)")
    ] = None,
    client_key_file: Annotated[
        Path | None,
        typer.Option(
            "--client-key-file",
            help="Use the dedicated gateway with this client key ([Credentials] ClientKeyFile)",
        ),
    ] = None,
    client_key_password_file: Annotated[
        Path | None,
        typer.Option(
            "--client-key-password-file",
            help="The client key's password file ([Credentials] PasswordFromFilePath)",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="Generate the SSRF token into this file (TokenFile)"),
    ] = None,
    start_degraded: Annotated[
        bool | None,
        typer.Option(
            "--start-degraded/--fail-closed",
            help="Start even when the server or credentials cannot be reached (StartDegraded)",
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the configuration and exit")
    ] = False,
) -> None:
    """Serve secrets and envelope encryption to local applications over HTTP.

    Example: KMS_TOKEN=file:///run/kmstoken mamori agent --endpoint 127.0.0.1:8443
    --ca-file mamori-data/tls/ca.pem
    """
    from mamori.agent.config import AgentConfigError, load_config
    from mamori.agent.serve import StartupError, run
    from mamori.agent.token import TokenError

    if protocol is not None and protocol not in ("http", "https"):
        typer.echo("mamori agent: --protocol must be http or https", err=True)
        raise typer.Exit(2)
    try:
        settings = load_config(
            config,
            {
                "http_port": port,
                "endpoint": endpoint,
                "protocol": protocol,
                "ca_file": ca_file,
                "client_key_file": client_key_file,
                "client_key_password_file": client_key_password_file,
                "token_file": token_file,
                "start_degraded": start_degraded,
            },
        )
    except AgentConfigError as exc:
        typer.echo(f"mamori agent: {exc}", err=True)
        raise typer.Exit(2) from None
    if check:
        typer.echo("mamori agent: configuration is valid")
        return
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(run(settings, os.environ))
        except (TokenError, StartupError) as exc:
            typer.echo(f"mamori agent: cannot start: {exc}", err=True)
            raise typer.Exit(3) from None
