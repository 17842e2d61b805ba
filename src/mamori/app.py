"""Wiring: the one place that picks implementations and builds a running server."""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import fcntl
import logging
import os
import re
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from sqlalchemy import insert, select, text, update

from mamori.api.errors import ApiError
from mamori.api.registry import catalogue
from mamori.audit import AuditLog, Encoder
from mamori.audit.key import AuditKey, open_audit_key
from mamori.config import Settings
from mamori.core.aliases import AliasService
from mamori.core.asymmetric_ops import AsymmetricService
from mamori.core.cache import named_caches
from mamori.core.certificates import CertificateService
from mamori.core.challenges import Challenges
from mamori.core.crypto_ops import CryptoService
from mamori.core.hsm_keys import HsmVersions
from mamori.core.instance_crypto import InstanceCrypto
from mamori.core.instances import InstanceService
from mamori.core.invalidation import Invalidations
from mamori.core.jobs import run_due
from mamori.core.key_import import KeyImport
from mamori.core.keys import KeyService
from mamori.core.managed_data_keys import ManagedDataKeys
from mamori.core.ram_secrets import RAM_CREDENTIALS, RamCredentialSecrets
from mamori.core.rds_secrets import RDS, RdsSecrets
from mamori.core.secret_views import SecretViews
from mamori.core.secrets import SecretService
from mamori.crypto.aead import DecryptionFailed
from mamori.gateway.console.mount import LazyConsole, WithConsole
from mamori.gateway.console.throttle import FailedSignIns
from mamori.gateway.instance.app import InstanceGateway, TlsListener
from mamori.gateway.instance.messages import APIS
from mamori.gateway.instance.throttle import SharedBudgets
from mamori.gateway.metrics import Metrics, prepare_multiprocess, worker_exited
from mamori.gateway.ops import Ops
from mamori.gateway.pop.app import PopGateway
from mamori.gateway.pop.nonces import ReplayGuard, node_table
from mamori.gateway.tls import TlsFiles, ensure_tls
from mamori.gateway.trail import Trail
from mamori.hsm import HsmConfig, TokenUnavailable, find_module
from mamori.http.limits import bounded
from mamori.iam.aap_services import AapServices, build_aap
from mamori.iam.access_keys import AccessKeyService, new_pair
from mamori.iam.accounts import AccountService
from mamori.iam.authorize import Authorizer
from mamori.iam.client_key_authority import ClientKeyAuthority
from mamori.iam.directory import Directory
from mamori.iam.key_policies import KeyPolicies
from mamori.iam.policies import Policies
from mamori.iam.policy import parse_policy
from mamori.iam.principal import ADMIN
from mamori.iam.roles import Roles
from mamori.iam.secret_policies import SecretPolicies
from mamori.iam.sts import LiveRoles, TokenService, load_signing_keys
from mamori.node.nonce_table import NonceTable
from mamori.node.ring import InvalidationRing
from mamori.node.workers import Supervisor
from mamori.seal import RootKeyProvider
from mamori.seal.keyfile import KeyFileProvider
from mamori.seal.keyring import Keyring, rewrap
from mamori.seal.pkcs11 import Pkcs11RootProvider
from mamori.startup import audit_failure, bind, check_audit_dir, check_data_dir
from mamori.store import schema as t
from mamori.store.database import Database
from mamori.store.job_lease import JobLease, job_lease
from mamori.store.nonce_log import NonceLog, purge
from mamori.store.notify import Listener, is_postgres, sender

if TYPE_CHECKING:
    from mamori.gateway.console import ConsoleApp
    from mamori.hsm import Token

log = logging.getLogger("mamori")


@dataclass(frozen=True, slots=True)
class Services:
    """Everything handlers reach, built once per server."""

    db: Database
    keys: KeyService
    aliases: AliasService
    crypto: CryptoService
    asymmetric: AsymmetricService
    certificates: CertificateService
    managed_data_keys: ManagedDataKeys
    challenges: Challenges
    instance_crypto: InstanceCrypto
    key_import: KeyImport
    secrets: SecretService
    instances: InstanceService
    accounts: AccountService
    access_keys: AccessKeyService
    directory: Directory
    roles: Roles
    policies: Policies
    key_policies: KeyPolicies
    secret_policies: SecretPolicies
    authorizer: Authorizer
    tokens: TokenService
    live_roles: LiveRoles
    aap: AapServices
    # The deployment's audit key, unwrapped by the keyring (audit/key.py): every chain's MACs.
    audit_key: AuditKey
    hsm_token: Token | None = None
    invalidations: Invalidations = field(default_factory=Invalidations)

    @property
    def client_key_authority(self) -> ClientKeyAuthority:
        """The AAP decision the dedicated gateway asks for each client-key request."""
        return self.aap.authority


def open_token(settings: Settings) -> Token | None:
    """Log in to the configured PKCS#11 token; None when no token is configured. A configured
    token that does not open stops the start: keys or the root key depend on it."""
    if not settings.hsm_enabled:
        return None
    module = settings.hsm_module or find_module()
    if module is None:
        raise TokenUnavailable("no PKCS#11 module: set hsm.module (SoftHSM2 was not found)")
    from mamori.hsm import Token

    return Token.open(HsmConfig(module, settings.hsm_token_label, settings.hsm_pin))


def open_keyring(db: Database, settings: Settings, token: Token | None = None) -> Keyring:
    """Open the root key and the keyring it protects; create the first keyring version."""
    rows = keyring_rows(db)
    if settings.seal_provider == "pkcs11":
        if token is None:
            raise TokenUnavailable("seal_provider 'pkcs11' needs an open [hsm] token")
        provider: RootKeyProvider = Pkcs11RootProvider(
            token, settings.hsm_root_key_label, may_create=not rows
        )
        keyring = Keyring(provider.open(), rows)
    else:
        file = KeyFileProvider(settings.root_key_path, may_create=not rows)
        keyring = _open_with_file(file, rows)
    if keyring.current_version == 0:

        def persist(version: int, wrapped: bytes) -> None:
            with db.begin() as conn:
                conn.execute(
                    insert(t.keyring).values(
                        version=version, wrapped_dek=wrapped, created_at=int(time.time())
                    )
                )

        keyring.new_version(persist)
    return keyring


def keyring_rows(db: Database) -> list[tuple[int, bytes]]:
    """The keyring's wrapped DEKs, by version, as the store holds them."""
    with db.read() as conn:
        rows = conn.execute(select(t.keyring.c.version, t.keyring.c.wrapped_dek)).all()
    return [(r.version, r.wrapped_dek) for r in rows]


def _open_with_file(provider: KeyFileProvider, rows: list[tuple[int, bytes]]) -> Keyring:
    """The keyring under ``root.key``, or under ``root.key.new`` if a rotation stopped after
    its commit and before its rename (see ``rotate_root``). Files are never changed here: a
    rotation may be running right now."""
    current, *pending = provider.candidates()
    try:
        return Keyring(current, rows)
    except DecryptionFailed:
        if not pending:
            raise
    keyring = Keyring(pending[0], rows)
    log.warning(
        "%s opens the keyring, %s does not: a root-key rotation was interrupted; "
        "run `mamori operator rotate-root` to finish it",
        provider.pending_path,
        provider.path,
    )
    return keyring


class RootRotationRefused(RuntimeError):
    """``rotate-root`` cannot run with this configuration or store."""


@dataclass(frozen=True, slots=True)
class RootRotation:
    """What ``rotate_root`` did."""

    versions: int  # keyring versions rewrapped
    finished_interrupted: bool  # an earlier rotation's root.key.new was put in place first
    # The old wrapping is gone from the store's files (False: SQLite readers kept the WAL from
    # being checkpointed in time, so the old root key still opens the copy in mamori.db-wal).
    erased: bool


def rotate_root(settings: Settings) -> RootRotation:
    """Replace the root key file: a new random key seals the keyring's DEKs, the old one opens
    nothing in the store any more. The DEKs themselves are unchanged, so running servers (which
    hold them in memory) go on serving, and everything the keyring wraps stays as it is.

    Crash safety: the new key is written and synced as ``root.key.new`` first; one durable
    transaction rewraps every keyring row; only then is ``root.key.new`` renamed over
    ``root.key``. Until the rename, start-up tries both files, and the next run of this function
    finishes (or, if the store never committed, discards) the pending file."""
    if settings.seal_provider != "file":
        raise RootRotationRefused(
            f'seal_provider = "{settings.seal_provider}": the root key is a key in the PKCS#11 '
            "token, and rotating it is not implemented (docs/hsm.md); nothing was changed"
        )
    provider = KeyFileProvider(settings.root_key_path, may_create=False)
    db = Database(settings.database_url)
    try:
        db.migrate()
        if not keyring_rows(db):
            raise RootRotationRefused(
                "the store holds no keyring yet: start `mamori server` once first"
            )
        with _exclusive(provider.path.parent):
            finished = _settle_pending(db, provider)
            old = provider.open()
            Keyring(old, keyring_rows(db))  # DecryptionFailed before any file is written
            new = provider.write_pending()
            try:
                with db.begin(durable=True) as conn:
                    # Read under the write lock: another host's rotation cannot interleave.
                    rows = conn.execute(
                        select(t.keyring.c.version, t.keyring.c.wrapped_dek).with_for_update()
                    ).all()
                    rewrapped = rewrap(old, new, [(r.version, r.wrapped_dek) for r in rows])
                    for version, wrapped in rewrapped:
                        conn.execute(
                            update(t.keyring)
                            .where(t.keyring.c.version == version)
                            .values(wrapped_dek=wrapped)
                        )
            except BaseException:
                # Whether the commit happened is decided by what opens the store now; if that
                # cannot be told, root.key.new stays for the next run (start-up tries it).
                with contextlib.suppress(Exception):
                    _settle_pending(db, provider)
                raise
            provider.promote_pending()
            # The rewrap is an UPDATE: until the WAL is checkpointed (or PostgreSQL's dead
            # tuples vacuumed) the old wrapping is still in the files, and with it whatever
            # the old root key was rotated away from.
            erased = db.erase_now("keyring")
    finally:
        db.close()
    return RootRotation(len(rewrapped), finished, erased)


def _settle_pending(db: Database, provider: KeyFileProvider) -> bool:
    """Resolve a ``root.key.new`` left by an interrupted rotation: put it in place if the store
    committed to it (True), remove it if the current root key still opens the store."""
    pending = provider.open_pending()
    if pending is None:
        return False
    rows = keyring_rows(db)
    with contextlib.suppress(DecryptionFailed):
        Keyring(pending, rows)
        provider.promote_pending()
        return True
    Keyring(provider.open(), rows)  # raises DecryptionFailed when neither key opens the store
    provider.discard_pending()
    return False


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One rotation at a time on this host (a lock on the root key's directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RootRotationRefused("another rotate-root is running") from None
        yield
    finally:
        os.close(fd)


def build_services(settings: Settings, clock: Any = time.time) -> Services:
    """Open the store (migrating it), the keyring, and every service."""
    db = Database(settings.database_url)
    db.migrate()
    token = open_token(settings)
    keyring = open_keyring(db, settings, token)
    audit_key = open_audit_key(db, keyring)
    # Every cache registers here; ``serve`` connects it to the other nodes on PostgreSQL.
    bus = Invalidations()
    instances = InstanceService(db, clock, bus)
    hsm = HsmVersions(token)
    keys = KeyService(db, keyring, clock, settings.key_cache_size, hsm, bus, instances)
    access_keys = AccessKeyService(db, keyring, clock, settings.key_cache_size, bus)
    policies = Policies(
        db, clock, validate=parse_policy, cache_size=settings.key_cache_size, bus=bus
    )
    key_policies = KeyPolicies(db, clock, settings.key_cache_size, bus)
    secret_views = SecretViews(db, settings.key_cache_size, bus)
    secret_policies = SecretPolicies(db, clock, secret_views)

    def identities_changed() -> None:
        # Writes to RAM are rare; forgetting every cached decision input keeps them exact.
        policies.changed()
        access_keys.forget_all()
        live_roles.forget_all()

    roles = Roles(db, clock, _validate_trust_policy, identities_changed)
    live_roles = LiveRoles(roles, clock, bus=bus)

    crypto = CryptoService(keys)
    signing_keys = load_signing_keys(db, keyring, clock)
    secrets = SecretService(db, keys, crypto, clock, secret_views, instances)
    secrets.manage(
        {
            RDS: RdsSecrets(lambda scope, name: secrets.value(scope, name, None, None).data),
            RAM_CREDENTIALS: RamCredentialSecrets(access_keys, new_pair),
        }
    )
    return Services(
        db=db,
        keys=keys,
        aliases=AliasService(db, keys),
        crypto=crypto,
        asymmetric=AsymmetricService(keys),
        certificates=CertificateService(db, keyring, clock, settings.key_cache_size, hsm),
        managed_data_keys=ManagedDataKeys(db, crypto, clock),
        challenges=Challenges(signing_keys, clock),
        instance_crypto=InstanceCrypto(keys),
        key_import=KeyImport(db, keys, keyring, clock),
        secrets=secrets,
        instances=instances,
        accounts=AccountService(db, clock),
        access_keys=access_keys,
        directory=Directory(db, clock, identities_changed),
        roles=roles,
        policies=policies,
        key_policies=key_policies,
        secret_policies=secret_policies,
        authorizer=Authorizer(policies, clock, key_policies, secret_policies),
        tokens=TokenService(signing_keys, clock),
        live_roles=live_roles,
        aap=build_aap(db, clock, settings.key_cache_size, bus, instances.belongs),
        invalidations=bus,
        hsm_token=token,
        audit_key=audit_key,
    )


def _validate_trust_policy(document: str) -> None:
    parse_policy(document, resource_policy=True)


def bootstrap(services: Services, settings: Settings) -> tuple[str, str] | None:
    """First start: the account, its administrator's AccessKey and the credentials file.
    Returns (id, secret) when a key was created now."""
    services.accounts.ensure(settings.account_id)
    services.instances.default_instance(settings.account_id)
    if services.access_keys.has_admin_key(settings.account_id):
        return None
    access_key_id, secret = services.access_keys.create(settings.account_id, ADMIN)
    write_credentials(settings.credentials_path, access_key_id, secret)
    return access_key_id, secret


def write_credentials(path: Path, access_key_id: str, secret: str) -> None:
    """Alibaba's credentials INI (``ALIBABA_CLOUD_CREDENTIALS_FILE``), created 0600."""
    ini = configparser.ConfigParser()
    ini["default"] = {
        "type": "access_key",
        "access_key_id": access_key_id,
        "access_key_secret": secret,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        ini.write(handle)
    os.chmod(path, 0o600)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to us, so one SIGTERM stops both listeners."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        # uvicorn closes idle keep-alive connections, but a TLS close then waits up to 30 s for
        # the client's close_notify, which an idle pooled SDK connection never sends: abort
        # whatever is still idle after a short grace, so SIGTERM does not hang on them.
        handle = asyncio.get_running_loop().call_later(1.0, self._abort_idle_connections)
        try:
            await super().shutdown(sockets)
        finally:
            handle.cancel()

    def _abort_idle_connections(self) -> None:
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()


def _uvicorn_config(
    app: Ops,
    pop: PopGateway,
    settings: Settings,
    port: int,
    tls: TlsFiles | None,
    max_connections: int,
) -> uvicorn.Config:
    # httptools, with the request head bounded before it is parsed, each request read within a
    # deadline, and a JSON 503 past max_connections (mamori/http/limits.py).
    refusals = {
        408: ApiError("RequestTimeout", seconds=f"{settings.request_read_timeout:g}"),
        431: ApiError(
            "RequestHeaderFieldsTooLarge",
            limit=settings.max_header_bytes,
            count=settings.max_headers,
        ),
        503: ApiError("ServiceUnavailableTemporary"),
    }
    protocol = bounded(
        settings.max_header_bytes,
        settings.max_headers,
        settings.request_read_timeout,
        lambda status: pop.error_body(refusals[status]),
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        loop="uvloop",
        http=protocol,
        lifespan="off",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
        date_header=False,
        limit_concurrency=max_connections,
        timeout_graceful_shutdown=30,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )


# Descriptors kept for everything but client connections: listeners, the store's pool, the
# audit files, the executor's threads, logs, the TLS files.
_FD_RESERVE = 256


def _connection_limit(wanted: int, listeners: int) -> int:
    """``max_connections`` per listener, fitted to the fd limit: the soft limit is raised
    toward the hard one when it is too low, and the limit lowered (with a warning) when even
    that is not enough, so connections are refused with a 503 rather than by EMFILE on accept."""
    need = wanted * listeners + _FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    fitted = max(1, (soft - _FD_RESERVE) // listeners)
    log.warning(
        "max_connections lowered from %d to %d per listener: the open-file limit is %d",
        wanted,
        fitted,
        soft,
    )
    return fitted


async def _jobs(
    services: Services, interval: float, stop: asyncio.Event, lease: JobLease, metrics: Metrics
) -> None:
    """The background jobs, in whichever one process of the deployment holds the lease."""
    loop = asyncio.get_running_loop()
    postgres = is_postgres(services.db)
    try:
        while not stop.is_set():
            try:
                if await loop.run_in_executor(None, lease.held):
                    services.invalidations.poll()
                    now = int(time.time())
                    await loop.run_in_executor(None, run_due, services.keys, now, services.secrets)
                    if postgres:
                        await loop.run_in_executor(None, purge, services.db, now)
                    metrics.job_pass(failed=False)
            except Exception:
                metrics.job_pass(failed=True)
                log.exception("background job pass failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await loop.run_in_executor(None, lease.release)


@dataclass(frozen=True, slots=True)
class Node:
    """What a node's worker processes share, made before the first is forked."""

    workers: int
    # Per worker: its HTTP socket, then its HTTPS one when that is on. Every worker has its own
    # sockets on the same ports (SO_REUSEPORT), so the kernel spreads new connections evenly;
    # one shared socket let whichever worker woke first take most of a burst of connections.
    # A restarted worker gets its predecessor's sockets back, with any connection waiting in
    # their backlog.
    sockets: tuple[tuple[socket.socket, ...], ...]
    nonces: NonceTable
    budgets: SharedBudgets
    sign_ins: FailedSignIns  # the console's failed sign-ins, counted for the whole node
    ring: InvalidationRing | None  # None for one worker: nobody to tell

    def close(self) -> None:
        """Close the listeners (a start that failed after binding them)."""
        for group in self.sockets:
            for sock in group:
                sock.close()


def worker_count(settings: Settings) -> int:
    """``settings.workers``, or the number of cores when it is 0."""
    return settings.workers or os.cpu_count() or 1


def _listen(host: str, port: int, setting: str) -> socket.socket:
    sock = bind(host, port, setting, reuse_port=True)
    sock.listen(2048)
    return sock


def open_node(settings: Settings) -> Node:
    """Bind the listeners and map the shared memory of a node."""
    workers = worker_count(settings)
    run = settings.data_dir / "run"
    ports = [("port", settings.port)] + (
        [("tls_port", settings.tls_port)] if settings.tls_port else []
    )
    # SO_REUSEPORT would also let a second server of the same user bind these ports and take
    # half the connections. A plain bind first fails while anything listens there; closed at
    # once, it leaves only the instant between it and the workers' binds.
    for name, port in ports:
        bind(settings.host, port, name).close()
    sockets: list[tuple[socket.socket, ...]] = []
    try:
        for _ in range(workers):
            sockets.append(tuple(_listen(settings.host, port, name) for name, port in ports))
    except BaseException:
        for sock in (sock for group in sockets for sock in group):
            sock.close()
        raise
    nonces = node_table(run / "nonces.lock", settings.nonce_cache_entries)
    nonces.adopt(run)
    return Node(
        workers=workers,
        sockets=tuple(sockets),
        nonces=nonces,
        budgets=SharedBudgets(run / "throttle.lock", share=settings.instance_qps_share),
        sign_ins=FailedSignIns(run / "sign-ins.lock"),
        ring=InvalidationRing(run / "invalidations.lock") if workers > 1 else None,
    )


def run_node(settings: Settings) -> int:
    """Start a node: prepare the store and files once, then serve with ``settings.workers``
    processes (one: in this process; several: forked and supervised). The exit status."""
    import uvloop

    check_data_dir(settings.data_dir)
    if settings.audit == "off":
        log.warning(
            'AUDIT IS OFF (audit = "off"): no request of this node is recorded; '
            "nobody will be able to tell who used which key (docs/audit.md)"
        )
    else:
        check_audit_dir(settings.audit_dir)
    # Bound first: a port in use is said before the store is touched (docs/operations.md).
    node = open_node(settings)
    try:
        services = build_services(settings)
    except BaseException:
        node.close()
        raise
    created = bootstrap(services, settings)
    tls = ensure_tls(
        settings.tls_dir,
        settings.host_names,
        cert_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
    )
    _announce(settings, created, tls, node.workers)
    if node.workers > 1:
        # Each worker's samples in files of its own, added up by whichever answers /metrics.
        prepare_multiprocess(settings.data_dir / "run" / "metrics")
    if node.workers == 1:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings, node, tls, 0, services))
        node.nonces.keep(settings.data_dir / "run")
        return 0
    # Workers open their own connections and token sessions: none may cross a fork.
    _close(services)

    def work(index: int) -> int:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings, node, tls, index))
        return 0

    status = Supervisor(node.workers, work, reaped=worker_exited).run()
    node.nonces.keep(settings.data_dir / "run")
    return status


def _close(services: Services) -> None:
    services.db.close()
    if services.hsm_token is not None:
        services.hsm_token.close()


async def serve(
    settings: Settings, node: Node, tls: TlsFiles, index: int, services: Services | None = None
) -> None:
    """Run worker ``index`` of the node: the shared gateway on HTTP and HTTPS until SIGTERM
    or SIGINT."""
    if services is None:
        services = build_services(settings)
    if services.hsm_token is not None:
        # Here, in the worker that will use the session, and off the event loop: the first
        # request needing the token's capabilities would otherwise wait ~1 s for the probe.
        services.hsm_token.start_probe()
    services.instances.ca_chain_pem = _trust_chain(tls)
    bus = services.invalidations
    if node.ring is not None:
        node.ring.start()
        bus.share_with(node.ring)
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mamori-api")
    # Inline actions whose key is in a token (one session: more threads would only wait).
    token_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mamori-token")
    metrics = Metrics(_action_names())
    audit = _open_audit(settings, index, metrics, services.audit_key)
    trail = Trail(audit, Encoder(node_name(settings), settings.region), metrics)
    nonce_log = NonceLog(services.db) if is_postgres(services.db) else None
    gateway = PopGateway(
        catalogue=catalogue(),
        services=services,
        access_keys=services.access_keys,
        tokens=services.tokens,
        live_roles=services.live_roles,
        region=settings.region,
        nonces=ReplayGuard(node.nonces, nonce_log),
        executor=executor,
        token_executor=token_executor,
        max_body_bytes=settings.max_body_bytes,
        host_id=f"kms.{settings.region}.aliyuncs.com",
        trail=trail,
        refresh=bus.poll,
    )
    console: LazyConsole | None = None
    if settings.console:

        def build_console() -> ConsoleApp:
            # Jinja2 and the pages load with the console's first request, not with the server.
            from mamori.gateway.console import ConsoleApp, LoggedReveals

            return ConsoleApp(
                catalogue=catalogue(),
                services=services,
                access_keys=services.access_keys,
                region=settings.region,
                executor=executor,
                max_body_bytes=settings.max_body_bytes,
                failures=node.sign_ins,
                # With the audit log on, each reveal is its request's record (RecordedReveals);
                # with it off, a log line.
                reveals=LoggedReveals(),
                trusted_proxies=settings.console_trusted_proxies,
                trail=trail if audit is not None else None,
                # The audit trail page reads the chains this node writes.
                audit_dir=settings.audit_dir if audit is not None else None,
            )

        console = LazyConsole(build_console, executor)
    # The dedicated gateway shares the TLS port: instance-API requests are told apart by their
    # headers or their kst-… host name (gateway/instance/app.py); the console is at /console.
    tls_app = TlsListener(
        InstanceGateway(
            services=services,
            authority=services.client_key_authority,
            instances=services.instances,
            budgets=node.budgets,
            region=settings.region,
            executor=executor,
            max_body_bytes=settings.max_body_bytes,
            host_names=settings.host_names,
            trail=trail,
            refresh=bus.poll,
        ),
        WithConsole(console, gateway),
    )
    plain_app = WithConsole(console if settings.console_http else None, gateway)

    def ops(app: TlsListener | WithConsole) -> Ops:
        return Ops(
            app,
            trail=trail,
            audit_on=audit is not None,
            checks=_readiness(services, settings),
            metrics=metrics,
            metrics_allow=settings.metrics_allow,
            executor=executor,
        )

    listeners: list[tuple[Ops, int, TlsFiles | None]] = [(ops(plain_app), settings.port, None)]
    if settings.tls_port:
        listeners.append((ops(tls_app), settings.tls_port, tls))
    limit = _connection_limit(settings.max_connections, len(listeners))
    servers = [
        _Server(_uvicorn_config(app, gateway, settings, port, files, limit))
        for app, port, files in listeners
    ]

    stop = asyncio.Event()

    def request_stop() -> None:
        stop.set()
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    if audit is not None:
        audit.start(loop)
    listener = _share_invalidations(services)
    jobs = asyncio.create_task(
        _jobs(services, settings.jobs_interval, stop, job_lease(services.db), metrics)
    )
    sampler = asyncio.create_task(_sample(metrics, trail, stop))
    try:
        horizon = gateway.replay_horizon
        if horizon is not None and horizon > time.time():
            # Connections wait in the listeners' backlog meanwhile (under a second).
            await asyncio.sleep(horizon - time.time())
        await asyncio.gather(
            *(
                server.serve(sockets=[sock])
                for server, sock in zip(servers, node.sockets[index], strict=True)
            )
        )
    finally:
        request_stop()
        await jobs
        await sampler
        # The last tick's requests, before the worker's sample files are left behind.
        metrics.flush()
        if audit is not None:
            await audit.drain()
            audit.close()
        if nonce_log is not None:
            await nonce_log.close()
        if listener is not None:
            listener.stop()
            services.invalidations.connect(None)
        bus.share_with(None)
        _close(services)
        log.info("mamori stopped cleanly")


def _action_names() -> frozenset[str]:
    """Every action a request can be counted under: the catalogue's, the instance API's, the
    console's own."""
    console = {"RevealSecretValue", "Console:/sign-in", "Console:/sign-out"}
    return frozenset({a.name for a in catalogue().all()} | set(APIS) | console)


def node_name(settings: Settings) -> str:
    """This node's name in audit records: ``node_name``, or the host name made safe."""
    if settings.node_name:
        return settings.node_name
    return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64] or "mamori"


def _open_audit(settings: Settings, index: int, metrics: Metrics, key: AuditKey) -> AuditLog | None:
    """Worker ``index``'s own chain, ``<node>-w<index>`` (one writer per chain file), keyed
    with the deployment's audit key; None when the audit log is off."""
    if settings.audit == "off":
        return None
    audit = AuditLog(
        settings.audit_dir,
        f"{node_name(settings)}-w{index}",
        segment_bytes=settings.audit_segment_bytes,
        observe_sync=metrics.audit_synced,
        mac_key=key.material.reveal(),
    )
    try:
        audit.open()
    except (OSError, ValueError) as exc:
        raise audit_failure(exc) from None
    return audit


async def _sample(metrics: Metrics, trail: Trail, stop: asyncio.Event) -> None:
    """What is counted outside requests, every few seconds: cache hits, audit availability."""
    while not stop.is_set():
        metrics.sync_caches(named_caches())
        metrics.audit_available(trail.failure is None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2.0)


def _readiness(services: Services, settings: Settings) -> Callable[[], dict[str, str]]:
    """What ``/ready`` checks besides the audit log: the store answers, the root of trust is
    open (a PKCS#11 root key still found in its token)."""

    def check() -> dict[str, str]:
        state: dict[str, str] = {}
        try:
            with services.db.read() as conn:
                conn.execute(text("SELECT 1"))
            state["Store"] = "ok"
        except Exception as exc:
            state["Store"] = f"unreachable: {type(exc).__name__}"
        state["RootOfTrust"] = "ok"
        if settings.seal_provider == "pkcs11" and services.hsm_token is not None:
            try:
                found = services.hsm_token.aead(settings.hsm_root_key_label) is not None
            except Exception:
                found = False
            state["RootOfTrust"] = "ok" if found else "the PKCS#11 root key is not reachable"
        return state

    return check


def _trust_chain(tls: TlsFiles) -> str:
    """What a client of the TLS listener trusts (GetKmsInstance's CaCertificateChainPem):
    Mamori's CA, or the certificates of an operator's certificate file (never a key that may
    share that file)."""
    pem = (tls.ca_file or tls.cert_file).read_text("ascii")
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", pem, re.DOTALL
    )
    return "".join(blocks)


def _share_invalidations(services: Services) -> Listener | None:
    """On PostgreSQL, other nodes may share the store: send them this node's cache
    invalidations and apply theirs."""
    if not is_postgres(services.db):
        return None
    bus = services.invalidations
    listener = Listener(services.db, bus.receive, bus.reset)
    listener.start()
    bus.connect(sender(services.db))
    return listener


def _announce(
    settings: Settings, created: tuple[str, str] | None, tls: TlsFiles, workers: int
) -> None:
    out = sys.stdout
    if created is not None:
        out.write(f"Created the administrator's AccessKey in {settings.credentials_path}\n")
        if out.isatty():
            # Shown once, to a person at a terminal; never to a captured log.
            out.write(f"  AccessKeyId:     {created[0]}\n  AccessKeySecret: {created[1]}\n")
        else:
            out.write(f"  AccessKeyId: {created[0]} (the secret is only in that file)\n")
    out.write(f"Mamori listening on http://{settings.host}:{settings.port}")
    if settings.tls_port:
        out.write(f" and https://{settings.host}:{settings.tls_port}")
        if tls.ca_file:
            out.write(f" (CA: {tls.ca_file})")
    out.write(f"; {workers} worker{'s' if workers > 1 else ''}\n")
    out.flush()
