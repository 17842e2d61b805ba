"""Start the agent: find the token, reach the server, listen on 127.0.0.1, stop on SIGTERM.

Start-up fails closed: without a token, or when the server does not answer or does not accept
the credentials, the agent exits (``StartupError``) unless ``StartDegraded`` says to listen
anyway and let each request report the upstream failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import uvicorn

from mamori.agent.app import AgentApp
from mamori.agent.config import AgentConfig
from mamori.agent.data_keys import DataKeys
from mamori.agent.errors import AgentError
from mamori.agent.responses import render_error, render_secret
from mamori.agent.secret_cache import Key, SecretCache
from mamori.agent.token import resolve_token
from mamori.agent.upstream import InstanceUpstream, PopUpstream, Upstream, UpstreamError
from mamori.client import ClientKeyError, CredentialSource, client_key_password, load_client_key
from mamori.http.limits import BoundedHttpToolsProtocol, bounded

log = logging.getLogger("mamori.agent")

LISTEN_HOST = "127.0.0.1"


class StartupError(Exception):
    """The agent cannot serve (the message says why, without any secret)."""


def build_credentials(config: AgentConfig) -> CredentialSource:
    """The official default credential chain; with ``RoleArn``, a role assumed through the
    server's STS with the chain's credentials (refreshed before they expire)."""
    from alibabacloud_credentials.client import Client
    from alibabacloud_credentials.provider import (
        DefaultCredentialsProvider,
        RamRoleArnCredentialsProvider,
    )

    if not config.role_arn:
        source: CredentialSource = Client()
        return source
    # The chain's STS client always speaks HTTPS unless the host names its scheme.
    sts = config.sts_endpoint or (
        f"http://{config.endpoint}" if config.protocol == "http" else config.endpoint
    )
    provider = RamRoleArnCredentialsProvider(
        credentials_provider=DefaultCredentialsProvider(),
        role_arn=config.role_arn,
        role_session_name=config.role_session_name,
        duration_seconds=config.role_duration_seconds,
        sts_endpoint=sts,
    )
    role_source: CredentialSource = Client(provider=provider)
    return role_source


def build_upstream(config: AgentConfig, environ: Mapping[str, str]) -> Upstream:
    """The dedicated gateway's instance API when ``ClientKeyFile`` is set (the key opened with
    its password now: ``StartupError`` when it cannot be), else the shared gateway's KMS API
    with the official credential chain."""
    if config.client_key_file is None:
        return PopUpstream(config, build_credentials(config))
    try:
        password = client_key_password(
            env_variable=config.client_key_password_env,
            file=config.client_key_password_file,
            environ=environ,
        )
        key = load_client_key(config.client_key_file, password)
    except ClientKeyError as exc:
        raise StartupError(f"the client key cannot be used: {exc}") from None
    return InstanceUpstream(config, key)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``run`` installs SIGTERM/SIGINT handlers that
    stop it gracefully, and the process then exits 0 instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TTL 1 (Linux): an answer cannot cross a router, so a request
    # relayed from another host gets nothing back (the AWS agent does the same).
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
    try:
        sock.bind((LISTEN_HOST, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {LISTEN_HOST}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


MAX_HEADERS = 100


def _protocol(config: AgentConfig) -> type[BoundedHttpToolsProtocol]:
    """httptools with the request head bounded (``MaxHeaderBytes``, 100 fields: 431), each
    request read whole within ``RequestReadTimeoutSeconds`` (408), both then closed; the
    connection limit stays the app's (``MaxConn``, 429), over whole heads only."""

    def refusal(status: int) -> bytes:
        error = {
            408: AgentError("RequestTimeout", seconds=f"{config.request_read_timeout_seconds:g}"),
            431: AgentError(
                "RequestHeaderFieldsTooLarge", limit=config.max_header_bytes, count=MAX_HEADERS
            ),
        }.get(status, AgentError("ConnectionLimitExceeded"))
        return render_error(config.response_type, error.code, error.message)

    return bounded(
        config.max_header_bytes,
        MAX_HEADERS,
        config.request_read_timeout_seconds,
        refusal,
        count_partial_heads=False,
    )


async def _check(upstream: Upstream, config: AgentConfig) -> str:
    try:
        return await upstream.check()
    except UpstreamError as exc:
        reason = f"{exc.code}: {exc.message}"
        cause = exc.__cause__
        if cause is not None and exc.code == "CredentialsUnavailable":
            reason += f" ({str(cause)[:300]})"
        if not config.start_degraded:
            raise StartupError(
                f"the server at {config.protocol}://{config.endpoint} cannot be used: {reason}"
            ) from None
        log.warning("starting degraded: %s; requests report the failure until it is fixed", reason)
        return ""


async def run(config: AgentConfig, environ: Mapping[str, str]) -> None:
    """Serve until SIGTERM or SIGINT."""
    token = resolve_token(config, environ)
    upstream = build_upstream(config, environ)
    try:
        account = await _check(upstream, config)
        await _serve(config, token, upstream, account)
    finally:
        await upstream.aclose()


async def _serve(config: AgentConfig, token: str, upstream: Upstream, account: str) -> None:
    arn_prefix = f"acs:kms:{config.region}:{account}:" if account else ""

    async def fetch(key: Key) -> bytes:
        body = await upstream.get_secret_value(*key)
        return render_secret(config.response_type, body, arn_prefix)

    secrets = SecretCache(
        fetch,
        size=config.cache_size,
        ttl=config.ttl_seconds,
        serve_stale=config.ignore_transient_errors,
    )
    data_keys = DataKeys(upstream, keys=config.envelope_keys, size=config.envelope_cache_size)
    app = AgentApp(config=config, token=token, secrets=secrets, data_keys=data_keys)
    protocol = _protocol(config)
    sock = _listen(config.http_port)
    server = _Server(
        uvicorn.Config(
            app,
            loop="none",
            http=protocol,
            lifespan="off",
            access_log=False,
            log_level=config.log_level,
            server_header=False,
            date_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
    )
    # MaxConn counts connections that sent a whole request head: half-sent heads cannot lock
    # callers out, and the read deadline closes them.
    app.connections = lambda: len(protocol.admitted)

    def stop(*_: Any) -> None:
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    log.info(
        "mamori agent listening on http://%s:%d (KMS at %s://%s, %s)",
        LISTEN_HOST,
        config.http_port,
        config.protocol,
        config.endpoint,
        "the dedicated gateway with a client key" if config.client_key_file else "RAM credentials",
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        secrets.clear()
        data_keys.clear()
        sock.close()
        log.info("mamori agent stopped")
